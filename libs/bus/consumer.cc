#include "libs/bus/consumer.h"

#include <algorithm>
#include <chrono>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "libs/core/log.h"
#include "libs/rpc/status_convert.h"

namespace spine::bus {
namespace {

using google::protobuf::util::TimeUtil;
using spine::v1::SubscribeRequest;

int32_t Millis(absl::Duration d) {
  return static_cast<int32_t>(std::clamp<int64_t>(absl::ToInt64Milliseconds(d), 0, INT32_MAX));
}

SubscribeRequest AckRequest(const std::string& delivery_id) {
  SubscribeRequest request;
  request.mutable_ack()->set_delivery_id(delivery_id);
  return request;
}

SubscribeRequest NackRequest(const std::string& delivery_id, absl::Duration delay,
                             const std::string& error) {
  SubscribeRequest request;
  SubscribeRequest::Nack* nack = request.mutable_nack();
  nack->set_delivery_id(delivery_id);
  nack->set_delay_ms(Millis(delay));
  // The broker keeps at most 1024 bytes of it.
  nack->set_error(error.substr(0, 1024));
  return request;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Consumer>> Consumer::Start(std::shared_ptr<grpc::Channel> channel,
                                                          ConsumerOptions options,
                                                          MessageHandler handler) {
  if (options.queue.empty()) return absl::InvalidArgumentError("consumer: queue is empty");
  if (options.service_token.empty()) {
    return absl::InvalidArgumentError("consumer: service token is empty");
  }
  if (!handler) return absl::InvalidArgumentError("consumer: no handler");
  if (options.concurrency < 1 || options.credits < 0) {
    return absl::InvalidArgumentError("consumer: concurrency must be >= 1 and credits >= 0");
  }
  if (options.ack_deadline <= absl::ZeroDuration() ||
      options.stream_deadline <= absl::ZeroDuration() ||
      options.reconnect_initial_backoff <= absl::ZeroDuration() ||
      options.reconnect_max_backoff < options.reconnect_initial_backoff ||
      options.in_progress_interval < absl::ZeroDuration() ||
      options.nack_delay < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("consumer: durations must be positive");
  }
  if (options.credits == 0) options.credits = 2 * options.concurrency;
  if (options.in_progress_interval == absl::ZeroDuration()) {
    options.in_progress_interval = options.ack_deadline / 3;
  }
  // Deliveries of a stream that broke may still wait beside those of the next one: room for two
  // streams' credits, and a delivery that finds no room is nacked back.
  auto pool = WorkerPool::Create(options.concurrency, 2 * static_cast<size_t>(options.credits));
  if (!pool.ok()) return pool.status();
  std::unique_ptr<Consumer> consumer(
      new Consumer(std::move(channel), std::move(options), std::move(handler), *std::move(pool)));
  consumer->loop_thread_ = std::thread([raw = consumer.get()] { raw->RunLoop(); });
  consumer->heartbeat_thread_ = std::thread([raw = consumer.get()] { raw->HeartbeatLoop(); });
  return consumer;
}

Consumer::Consumer(std::shared_ptr<grpc::Channel> channel, ConsumerOptions options,
                   MessageHandler handler, std::unique_ptr<WorkerPool> pool)
    : stub_(spine::v1::EventBus::NewStub(std::move(channel))),
      options_(std::move(options)),
      handler_(std::move(handler)),
      pool_(std::move(pool)),
      handled_(options_.dedupe_capacity) {}

Consumer::~Consumer() { Stop(); }

void Consumer::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  {
    absl::MutexLock lock(&cancel_mu_);
    if (live_context_ != nullptr) live_context_->TryCancel();
  }
  if (loop_thread_.joinable()) loop_thread_.join();
  if (heartbeat_thread_.joinable()) heartbeat_thread_.join();
  pool_->Shutdown();
}

bool Consumer::WaitConnected(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return connected_ || stopping_; };
  mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
  return connected_;
}

ConsumerStats Consumer::Stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

void Consumer::RunLoop() {
  absl::Duration backoff = options_.reconnect_initial_backoff;
  while (true) {
    const bool delivered = RunSession();
    if (delivered) backoff = options_.reconnect_initial_backoff;
    absl::MutexLock lock(&mu_);
    auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
    // Waits out the backoff unless Stop comes first.
    if (mu_.AwaitWithTimeout(absl::Condition(&stopping), backoff)) return;
    backoff = std::min(backoff * 2, options_.reconnect_max_backoff);
  }
}

bool Consumer::RunSession() {
  auto session = std::make_unique<Session>();
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return false;
    session->generation = next_generation_++;
  }
  session->context.set_deadline(std::chrono::system_clock::now() +
                                absl::ToChronoMilliseconds(options_.stream_deadline));
  session->context.AddMetadata("authorization", absl::StrCat("Bearer ", options_.service_token));
  session->stream = stub_->Subscribe(&session->context);
  {
    absl::MutexLock lock(&cancel_mu_);
    live_context_ = &session->context;
  }

  SubscribeRequest start;
  start.mutable_start()->set_queue(options_.queue);
  start.mutable_start()->set_consumer(options_.consumer_name);
  start.mutable_start()->set_credits(options_.credits);
  start.mutable_start()->set_ack_deadline_ms(Millis(options_.ack_deadline));
  bool started = false;
  {
    absl::MutexLock lock(&write_mu_);
    session_ = session.get();
    started = session->stream->Write(start);
  }
  bool subscribed = false;
  {
    absl::MutexLock lock(&mu_);
    // Stop may have looked for live_context_ before it was set: cancel on its behalf.
    if (stopping_) session->context.TryCancel();
    if (started && !stopping_) {
      connected_ = true;
      generation_ = session->generation;
      ++stats_.connects;
      subscribed = true;
    }
  }
  if (subscribed && options_.on_subscribed) options_.on_subscribed();

  bool delivered = false;
  spine::v1::Delivery delivery;
  while (started && session->stream->Read(&delivery)) {
    delivered = true;
    OnDelivery(session->generation, delivery);
  }
  {
    absl::MutexLock lock(&mu_);
    connected_ = false;
    generation_ = 0;
  }
  {
    // Once no writer is active and session_ is cleared, nothing touches the stream but us.
    absl::MutexLock lock(&write_mu_);
    auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) { return !writing_; };
    write_mu_.Await(absl::Condition(&idle));
    session_ = nullptr;
    pending_writes_.clear();
  }
  {
    absl::MutexLock lock(&cancel_mu_);
    live_context_ = nullptr;
  }
  const grpc::Status status = session->stream->Finish();
  bool stopping = false;
  {
    absl::MutexLock lock(&mu_);
    stopping = stopping_;
  }
  if (!stopping) {
    log::Warn("bus stream ended; reconnecting", {{"queue", options_.queue},
                                                 {"code", std::to_string(status.error_code())},
                                                 {"error", status.error_message()}});
  }
  return delivered;
}

void Consumer::OnDelivery(uint64_t generation, const spine::v1::Delivery& delivery) {
  ReceivedMessage message;
  message.queue = options_.queue;
  message.message_id = delivery.message().message_id();
  message.payload = delivery.message().payload();
  message.headers.insert(delivery.message().headers().begin(), delivery.message().headers().end());
  message.publish_time =
      absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(delivery.message().publish_time()));
  message.attempt = delivery.attempt();
  message.delivery_id = delivery.delivery_id();
  message.publisher = delivery.message().publisher();
  message.in_reply_to = delivery.message().in_reply_to();

  enum class Action { kRun, kAck, kHold } action = Action::kRun;
  {
    absl::MutexLock lock(&mu_);
    if (options_.skip_handled && handled_.Contains(message.message_id)) {
      action = Action::kAck;
      ++stats_.duplicates_skipped;
    } else if (running_.contains(message.message_id)) {
      action = Action::kHold;
    } else {
      running_[message.message_id] = {generation, message.delivery_id};
    }
  }
  switch (action) {
    case Action::kAck:
      return Send(generation, AckRequest(message.delivery_id));
    case Action::kHold:
      // Its handler is still running here (from an earlier delivery whose deadline passed): come
      // back later; by then it is handled, and the redelivery is acked from the table.
      return Send(generation, NackRequest(message.delivery_id, options_.ack_deadline,
                                          "still being handled by this consumer"));
    case Action::kRun:
      break;
  }
  const std::string message_id = message.message_id;
  const std::string delivery_id = message.delivery_id;
  absl::Status submitted = pool_->Submit(
      [this, generation, message = std::move(message)] { RunHandler(generation, message); });
  if (!submitted.ok()) {
    {
      absl::MutexLock lock(&mu_);
      running_.erase(message_id);
    }
    Send(generation, NackRequest(delivery_id, absl::ZeroDuration(), "consumer busy"));
  }
}

void Consumer::RunHandler(uint64_t generation, const ReceivedMessage& message) {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_ || generation != generation_) {
      // Its stream is gone: the broker has taken the delivery back and will redeliver it.
      running_.erase(message.message_id);
      return;
    }
  }
  const absl::Status status = handler_(message);
  {
    absl::MutexLock lock(&mu_);
    running_.erase(message.message_id);
    if (status.ok()) {
      handled_.Insert(message.message_id);
      ++stats_.handled;
    } else {
      ++stats_.failed;
    }
  }
  if (status.ok()) return Send(generation, AckRequest(message.delivery_id));
  Send(generation,
       NackRequest(message.delivery_id, options_.nack_delay,
                   absl::StrCat(absl::StatusCodeToString(status.code()), ": ", status.message())));
}

void Consumer::Send(uint64_t generation, const SubscribeRequest& request) {
  Session* session = nullptr;
  std::vector<SubscribeRequest> batch;
  {
    absl::MutexLock lock(&write_mu_);
    if (session_ == nullptr || session_->generation != generation) return;
    pending_writes_.push_back(request);
    if (writing_) return;  // the active writer takes it along
    writing_ = true;
    session = session_;
  }
  while (true) {
    {
      absl::MutexLock lock(&write_mu_);
      if (pending_writes_.empty()) {
        writing_ = false;
        return;
      }
      batch.swap(pending_writes_);
    }
    // session_ stays set while writing_ is: RunSession waits for the writer before clearing it.
    // A failed write means the stream broke; the reader sees that and reconnects.
    for (size_t i = 0; i < batch.size(); ++i) {
      grpc::WriteOptions options;
      if (i + 1 < batch.size()) options.set_buffer_hint();
      session->stream->Write(batch[i], options);
    }
    batch.clear();
  }
}

void Consumer::HeartbeatLoop() {
  absl::MutexLock lock(&mu_);
  auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
  while (!mu_.AwaitWithTimeout(absl::Condition(&stopping), options_.in_progress_interval)) {
    std::vector<std::pair<uint64_t, std::string>> held;
    held.reserve(running_.size());
    for (const auto& [message_id, delivery] : running_) held.push_back(delivery);
    mu_.Unlock();
    for (const auto& [generation, delivery_id] : held) {
      SubscribeRequest request;
      request.mutable_in_progress()->set_delivery_id(delivery_id);
      Send(generation, request);
    }
    mu_.Lock();
  }
}

}  // namespace spine::bus
