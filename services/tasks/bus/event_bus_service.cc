#include "services/tasks/bus/event_bus_service.h"

#include <deque>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/util/time_util.h"
#include "libs/core/log.h"
#include "libs/rpc/error_info.h"
#include "libs/rpc/status_convert.h"

namespace spine::tasks {
namespace {

using google::protobuf::util::TimeUtil;
using spine::v1::Delivery;
using spine::v1::SubscribeRequest;

constexpr size_t kMaxConsumerName = 128;
constexpr size_t kMaxNackError = 1024;

std::vector<bus::Message> ToMessages(const spine::v1::PublishRequest& request) {
  std::vector<bus::Message> messages;
  messages.reserve(request.messages_size());
  for (const spine::v1::BusMessage& in : request.messages()) {
    bus::Message& out = messages.emplace_back();
    out.id = in.message_id();
    out.payload = in.payload();
    out.headers.insert(in.headers().begin(), in.headers().end());
    // publisher and in_reply_to are the broker's to set, never the client's.
    out.reply_to_delivery_id = in.reply_to_delivery_id();
  }
  return messages;
}

// Whether `caller` may publish `request` (the queue's declared publishers; on a replies-only
// queue, every message must answer a delivery).
absl::Status MayPublish(const rpc::BusQueuePolicy& policy, const rpc::Caller& caller,
                        const spine::v1::PublishRequest& request) {
  if (!policy.MayPublish(request.queue(), caller.user_id)) {
    return absl::PermissionDeniedError(absl::StrCat("service '", caller.user_id.substr(0, 64),
                                                    "' may not publish to queue '",
                                                    request.queue().substr(0, 128), "'"));
  }
  if (policy.RepliesOnly(request.queue())) {
    for (int i = 0; i < request.messages_size(); ++i) {
      if (request.messages(i).reply_to_delivery_id().empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("messages[", i, "].replyToDeliveryId: required on queue '",
                         request.queue(), "', which takes only replies to a delivery"));
      }
    }
  }
  return absl::OkStatus();
}

void ToProto(const bus::Message& in, spine::v1::BusMessage* out) {
  out->set_message_id(in.id);
  out->set_payload(in.payload);
  out->mutable_headers()->insert(in.headers.begin(), in.headers.end());
  *out->mutable_publish_time() =
      TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(in.publish_time));
  out->set_publisher(in.publisher);
  out->set_in_reply_to(in.in_reply_to);
}

grpc::ServerUnaryReactor* Reply(grpc::CallbackServerContext* context, const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(rpc::ToGrpcStatus(status));
  return reactor;
}

}  // namespace

absl::Status PublishError(const std::string& queue, const absl::Status& status) {
  if (status.code() != absl::StatusCode::kResourceExhausted) return status;
  const std::optional<int64_t> retry_after = bus::RetryAfterSeconds(status);
  if (!retry_after) return status;  // too many queues: not a retryable full queue
  return rpc::WithErrorInfo(absl::ResourceExhaustedError(status.message()), "QUEUE_FULL",
                            {{"queue", queue}, {"retryAfterSeconds", absl::StrCat(*retry_after)}});
}

grpc::ServerUnaryReactor* EventBusService::Publish(grpc::CallbackServerContext* context,
                                                   const spine::v1::PublishRequest* request,
                                                   spine::v1::PublishResponse* response) {
  absl::StatusOr<rpc::Caller> caller = authenticator_.Authenticate(*context);
  if (!caller.ok()) return Reply(context, caller.status());
  if (absl::Status allowed = MayPublish(policy_, *caller, *request); !allowed.ok()) {
    return Reply(context, allowed);
  }
  absl::StatusOr<bus::PublishResult> result =
      broker_.Publish(request->queue(), ToMessages(*request), caller->user_id);
  if (!result.ok()) return Reply(context, PublishError(request->queue(), result.status()));
  response->set_accepted(result->accepted);
  response->set_duplicates(result->duplicates);
  return Reply(context, absl::OkStatus());
}

// A PublishStream call: publishes each request as it is read, answers the totals at the end.
class EventBusService::PublishStreamReactor final
    : public grpc::ServerReadReactor<spine::v1::PublishRequest> {
 public:
  PublishStreamReactor(bus::Broker& broker, const rpc::BusQueuePolicy& policy,
                       spine::v1::PublishResponse* response)
      : broker_(broker), policy_(policy), response_(response) {}

  void Start(rpc::Caller caller) {
    caller_ = std::move(caller);
    StartRead(&request_);
  }
  void Reject(const absl::Status& status) { Finish(rpc::ToGrpcStatus(status)); }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The client half-closed (or left): the totals are the answer.
      response_->set_accepted(accepted_);
      response_->set_duplicates(duplicates_);
      return Finish(grpc::Status::OK);
    }
    if (absl::Status allowed = MayPublish(policy_, caller_, request_); !allowed.ok()) {
      return Finish(rpc::ToGrpcStatus(allowed));
    }
    absl::StatusOr<bus::PublishResult> result =
        broker_.Publish(request_.queue(), ToMessages(request_), caller_.user_id);
    if (!result.ok())
      return Finish(rpc::ToGrpcStatus(PublishError(request_.queue(), result.status())));
    accepted_ += result->accepted;
    duplicates_ += result->duplicates;
    StartRead(&request_);
  }

  void OnDone() override { delete this; }

 private:
  bus::Broker& broker_;
  const rpc::BusQueuePolicy& policy_;
  spine::v1::PublishResponse* response_;
  rpc::Caller caller_;  // set before the first read
  spine::v1::PublishRequest request_;
  // Only touched from OnReadDone, which gRPC never runs twice at once.
  int accepted_ = 0;
  int duplicates_ = 0;
};

grpc::ServerReadReactor<spine::v1::PublishRequest>* EventBusService::PublishStream(
    grpc::CallbackServerContext* context, spine::v1::PublishResponse* response) {
  // gRPC's callback API owns reactors this way: created here, deleted in OnDone.
  auto* reactor = new PublishStreamReactor(broker_, policy_, response);
  if (absl::StatusOr<rpc::Caller> caller = authenticator_.Authenticate(*context); !caller.ok()) {
    reactor->Reject(caller.status());
  } else {
    reactor->Start(*std::move(caller));
  }
  return reactor;
}

// A Subscribe stream. It is also the subscription's DeliverySink, shared with the broker: the
// broker may call Deliver after the stream has ended (and the subscription was removed), so the
// reactor lives until both gRPC (OnDone) and the broker have let go of it.
//
// gRPC may run a reaction inline in StartWrite, StartRead or Finish, so those are called without
// the lock held, and the broker is never called with the lock held.
class EventBusService::SubscribeReactor final
    : public grpc::ServerBidiReactor<SubscribeRequest, Delivery>,
      public bus::DeliverySink,
      public std::enable_shared_from_this<SubscribeReactor> {
 public:
  SubscribeReactor(bus::Broker& broker, const rpc::BusQueuePolicy& policy,
                   std::string caller_service, std::string caller_name)
      : broker_(broker),
        policy_(policy),
        caller_service_(std::move(caller_service)),
        caller_name_(std::move(caller_name)) {}

  // Keeps the reactor alive until OnDone and starts reading the consumer's requests.
  void Start(std::shared_ptr<SubscribeReactor> self) {
    self_ = std::move(self);
    StartRead(&request_);
  }
  void Reject(std::shared_ptr<SubscribeReactor> self, const absl::Status& status) {
    self_ = std::move(self);
    End(status);
  }

  void Deliver(bus::Delivery delivery) override {
    {
      absl::MutexLock lock(&mu_);
      if (final_status_) return;  // ended: the broker has taken the delivery back
      Delivery& out = queue_.emplace_back();
      out.set_delivery_id(std::move(delivery.delivery_id));
      out.set_attempt(delivery.attempt);
      ToProto(*delivery.message, out.mutable_message());
      *out.mutable_ack_deadline() =
          TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(delivery.ack_deadline));
    }
    Pump();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return End(absl::OkStatus());  // half-closed, cancelled or broken
    if (absl::Status handled = Handle(request_); !handled.ok()) return End(handled);
    StartRead(&request_);
  }

  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
    }
    // A failed write means the stream is broken; the pending read fails too, but end now so the
    // deliveries go back to the queue without waiting for it.
    if (!ok) return End(absl::CancelledError("the stream broke"));
    Pump();
  }

  void OnCancel() override { End(absl::CancelledError("the consumer went away")); }

  void OnDone() override {
    // Normally End has unsubscribed already; this covers a stream that ended before Start.
    Unsubscribe();
    std::shared_ptr<SubscribeReactor> keep = std::move(self_);
    // `keep` may be the last reference: nothing may touch members after this.
  }

 private:
  absl::Status Handle(const SubscribeRequest& request) {
    std::optional<bus::SubscriptionId> subscription;
    {
      absl::MutexLock lock(&mu_);
      subscription = subscription_;
    }
    if (request.has_start()) {
      if (subscription) return absl::InvalidArgumentError("start: sent twice on one stream");
      return StartSubscription(request.start());
    }
    if (!subscription) {
      return absl::InvalidArgumentError("the first message on a Subscribe stream must be start");
    }
    absl::Status status;
    switch (request.action_case()) {
      case SubscribeRequest::kCredit:
        return broker_.Grant(*subscription, request.credit());
      case SubscribeRequest::kAck:
        status = broker_.Ack(*subscription, request.ack().delivery_id());
        break;
      case SubscribeRequest::kNack: {
        const SubscribeRequest::Nack& nack = request.nack();
        if (nack.error().size() > kMaxNackError) {
          return absl::InvalidArgumentError(
              absl::StrCat("nack.error: ", nack.error().size(), " bytes, at most ", kMaxNackError));
        }
        status =
            broker_.Nack(*subscription, nack.delivery_id(), absl::Milliseconds(nack.delay_ms()),
                         nack.error().empty() ? "nacked" : nack.error());
        break;
      }
      case SubscribeRequest::kInProgress:
        status = broker_.InProgress(*subscription, request.in_progress().delivery_id());
        break;
      default:
        return absl::InvalidArgumentError("a Subscribe request must set one action");
    }
    // The delivery expired (or was redelivered) before this arrived: nothing left to do.
    if (status.code() == absl::StatusCode::kNotFound) return absl::OkStatus();
    return status;
  }

  absl::Status StartSubscription(const SubscribeRequest::Start& start) {
    if (start.consumer().size() > kMaxConsumerName) {
      return absl::InvalidArgumentError(absl::StrCat("start.consumer: ", start.consumer().size(),
                                                     " characters, at most ", kMaxConsumerName));
    }
    if (!policy_.MaySubscribe(start.queue(), caller_service_)) {
      return absl::PermissionDeniedError(absl::StrCat("service '", caller_service_.substr(0, 64),
                                                      "' may not subscribe to queue '",
                                                      start.queue().substr(0, 128), "'"));
    }
    const std::string consumer = start.consumer().empty() ? caller_name_ : start.consumer();
    absl::StatusOr<bus::SubscriptionId> id = broker_.Subscribe(
        start.queue(), consumer, start.credits(), absl::Milliseconds(start.ack_deadline_ms()),
        shared_from_this(), caller_service_);
    if (!id.ok()) return id.status();
    bool ended = false;
    {
      absl::MutexLock lock(&mu_);
      subscription_ = *id;
      ended = final_status_.has_value();
    }
    // Ended while subscribing (OnCancel on another thread): take the subscription back.
    if (ended) Unsubscribe();
    return absl::OkStatus();
  }

  // Ends the stream with `status` (the first status wins): removes the subscription so its
  // deliveries are redelivered, then finishes once no write is in flight.
  void End(const absl::Status& status) {
    {
      absl::MutexLock lock(&mu_);
      if (final_status_) return;
      final_status_ = rpc::ToGrpcStatus(status);
      queue_.clear();
    }
    Unsubscribe();
    Pump();
  }

  void Unsubscribe() {
    std::optional<bus::SubscriptionId> subscription;
    {
      absl::MutexLock lock(&mu_);
      subscription.swap(subscription_);
    }
    if (subscription) broker_.Unsubscribe(*subscription);
  }

  // Starts the next write, or finishes the call once it has ended and no write is in flight.
  void Pump() {
    std::optional<grpc::Status> finish;
    grpc::WriteOptions options;
    {
      absl::MutexLock lock(&mu_);
      if (writing_ || finished_) return;
      if (final_status_) {
        finished_ = true;
        finish = *final_status_;
      } else if (!queue_.empty()) {
        current_ = std::move(queue_.front());
        queue_.pop_front();
        writing_ = true;
        // More are queued, so another write follows at once and flushes this one with it:
        // a burst of deliveries leaves in a few frames rather than one each.
        if (!queue_.empty()) options.set_buffer_hint();
      } else {
        return;
      }
    }
    // Only the thread that set writing_ touches current_ until OnWriteDone.
    if (finish) return Finish(*finish);
    StartWrite(&current_, options);
  }

  bus::Broker& broker_;
  const rpc::BusQueuePolicy& policy_;
  const std::string caller_service_;  // the subscribing service's token subject
  const std::string caller_name_;
  std::shared_ptr<SubscribeReactor> self_;  // released in OnDone
  SubscribeRequest request_;                // the read in flight (one at a time)
  absl::Mutex mu_;
  std::optional<bus::SubscriptionId> subscription_ ABSL_GUARDED_BY(mu_);
  std::deque<Delivery> queue_ ABSL_GUARDED_BY(mu_);  // at most the subscription's credits
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> final_status_ ABSL_GUARDED_BY(mu_);
  Delivery current_;  // the delivery being written
};

grpc::ServerBidiReactor<SubscribeRequest, Delivery>* EventBusService::Subscribe(
    grpc::CallbackServerContext* context) {
  absl::StatusOr<rpc::Caller> caller = authenticator_.Authenticate(*context);
  auto reactor = std::make_shared<SubscribeReactor>(broker_, policy_,
                                                    caller.ok() ? caller->user_id : std::string(),
                                                    caller.ok() ? caller->name : std::string());
  SubscribeReactor* raw = reactor.get();
  if (!caller.ok()) {
    raw->Reject(std::move(reactor), caller.status());
  } else {
    raw->Start(std::move(reactor));
  }
  return raw;
}

namespace {

void FillQueueStats(const bus::Broker& broker,
                    google::protobuf::RepeatedPtrField<spine::v1::QueueStats>* out) {
  for (const bus::QueueStats& stats : broker.Stats()) {
    spine::v1::QueueStats* queue = out->Add();
    queue->set_queue(stats.queue);
    queue->set_depth(stats.depth);
    queue->set_in_flight(stats.in_flight);
    queue->set_dead_letters(stats.dead_letters);
    queue->set_oldest_undelivered_age_ms(absl::ToInt64Milliseconds(stats.oldest_undelivered_age));
  }
}

}  // namespace

grpc::ServerUnaryReactor* EventBusService::GetQueueStats(
    grpc::CallbackServerContext* context, const spine::v1::GetQueueStatsRequest* /*request*/,
    spine::v1::GetQueueStatsResponse* response) {
  if (auto caller = authenticator_.Authenticate(*context); !caller.ok()) {
    return Reply(context, caller.status());
  }
  FillQueueStats(broker_, response->mutable_queues());
  return Reply(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* EventBusService::ListQueues(
    grpc::CallbackServerContext* context, const spine::v1::ListQueuesRequest* /*request*/,
    spine::v1::ListQueuesResponse* response) {
  if (auto caller = authenticator_.Authenticate(*context); !caller.ok()) {
    return Reply(context, caller.status());
  }
  FillQueueStats(broker_, response->mutable_queues());
  return Reply(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* EventBusService::ListDeadLetters(
    grpc::CallbackServerContext* context, const spine::v1::ListDeadLettersRequest* request,
    spine::v1::ListDeadLettersResponse* response) {
  absl::StatusOr<rpc::Caller> caller = authenticator_.Authenticate(*context);
  if (!caller.ok()) return Reply(context, caller.status());
  absl::StatusOr<bus::DeadLetterPage> page =
      broker_.ListDeadLetters(request->queue(), request->page_size(), request->page_token());
  if (!page.ok()) return Reply(context, page.status());
  for (const bus::DeadLetter& dead : page->dead_letters) {
    spine::v1::DeadLetter* out = response->add_dead_letters();
    out->set_queue(dead.queue);
    ToProto(*dead.message, out->mutable_message());
    out->set_attempts(dead.attempts);
    out->set_last_error(dead.last_error);
    *out->mutable_dead_time() =
        TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(dead.dead_time));
  }
  response->set_next_page_token(page->next_page_token);
  if (audit_) {
    audit_(*caller, "bus.list_dead_letters",
           absl::StrCat("queue=", request->queue(), " listed=", page->dead_letters.size()));
  }
  return Reply(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* EventBusService::ReplayDeadLetters(
    grpc::CallbackServerContext* context, const spine::v1::ReplayDeadLettersRequest* request,
    spine::v1::ReplayDeadLettersResponse* response) {
  absl::StatusOr<rpc::Caller> caller = authenticator_.Authenticate(*context);
  if (!caller.ok()) return Reply(context, caller.status());
  const std::vector<std::string> ids(request->message_ids().begin(), request->message_ids().end());
  absl::StatusOr<int> replayed = broker_.ReplayDeadLetters(request->queue(), ids);
  if (!replayed.ok()) return Reply(context, PublishError(request->queue(), replayed.status()));
  response->set_replayed(*replayed);
  if (audit_) {
    audit_(*caller, "bus.replay_dead_letters",
           absl::StrCat("queue=", request->queue(), " asked=",
                        ids.empty() ? "all" : absl::StrJoin(ids, ","), " replayed=", *replayed));
  }
  return Reply(context, absl::OkStatus());
}

EventBusService::AuditHook EventBusService::AuditTo(audit::AuditSink& sink) {
  return [&sink](const rpc::Caller& caller, const std::string& action, const std::string& detail) {
    spine::v1::AuditEvent event;
    event.set_actor(caller.user_id);
    event.set_action(action);
    event.set_target("bus");
    event.set_outcome("ok");
    event.set_request_id(caller.request_id);
    (*event.mutable_details()->mutable_fields())["detail"].set_string_value(detail);
    sink.Record(std::move(event));
  };
}

}  // namespace spine::tasks
