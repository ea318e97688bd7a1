#include "libs/bus/publisher.h"

#include <algorithm>
#include <random>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "libs/rpc/channel.h"
#include "libs/rpc/error_info.h"
#include "libs/rpc/status_convert.h"

namespace spine::bus {
namespace {

void Fill(const std::string& queue, const std::vector<OutgoingMessage>& messages, size_t begin,
          size_t end, spine::v1::PublishRequest* request) {
  request->set_queue(queue);
  for (size_t i = begin; i < end; ++i) {
    spine::v1::BusMessage* out = request->add_messages();
    out->set_message_id(messages[i].id);
    out->set_payload(messages[i].payload);
    out->mutable_headers()->insert(messages[i].headers.begin(), messages[i].headers.end());
    out->set_reply_to_delivery_id(messages[i].reply_to_delivery_id);
  }
}

// The server's retry hint, when the error carries one.
absl::Duration RetryHint(const absl::Status& status) {
  std::optional<google::rpc::ErrorInfo> info = rpc::GetErrorInfo(status);
  if (!info) return absl::ZeroDuration();
  auto hint = info->metadata().find("retryAfterSeconds");
  int64_t seconds = 0;
  if (hint == info->metadata().end() || !absl::SimpleAtoi(hint->second, &seconds)) {
    return absl::ZeroDuration();
  }
  return absl::Seconds(std::clamp<int64_t>(seconds, 0, 60));
}

}  // namespace

bool IsRetryable(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kAborted:
      return true;
    case absl::StatusCode::kResourceExhausted: {
      // A full queue drains; a broker out of queues (no QUEUE_FULL reason) does not.
      std::optional<google::rpc::ErrorInfo> info = rpc::GetErrorInfo(status);
      return info && info->reason() == "QUEUE_FULL";
    }
    default:
      return false;
  }
}

Publisher::Publisher(std::shared_ptr<grpc::Channel> channel, PublisherOptions options)
    : stub_(spine::v1::EventBus::NewStub(std::move(channel))), options_(std::move(options)) {}

std::string Publisher::NewMessageId() {
  thread_local std::mt19937_64 engine(std::random_device{}());
  return absl::StrFormat("%016x%016x", engine(), engine());
}

template <typename Attempt>
absl::StatusOr<Published> Publisher::WithRetries(const Attempt& attempt) {
  absl::Duration backoff = options_.initial_backoff;
  absl::StatusOr<Published> result;
  for (int tries = 1;; ++tries) {
    result = attempt();
    if (result.ok() || !IsRetryable(result.status()) ||
        tries >= std::max(1, options_.max_attempts)) {
      return result;
    }
    absl::SleepFor(std::max(backoff, RetryHint(result.status())));
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

absl::StatusOr<Published> Publisher::Publish(const std::string& queue,
                                             const std::vector<OutgoingMessage>& messages) {
  return WithRetries([&] { return PublishOnce(queue, messages); });
}

absl::StatusOr<Published> Publisher::PublishBatch(const std::string& queue,
                                                  const std::vector<OutgoingMessage>& messages,
                                                  int chunk) {
  chunk = std::max(chunk, 1);
  return WithRetries([&] { return PublishStreamOnce(queue, messages, chunk); });
}

std::unique_ptr<grpc::ClientContext> Publisher::NewContext() const {
  rpc::Caller self;
  self.bearer_token = options_.service_token;
  return rpc::MakeClientContext(options_.timeout, &self);
}

absl::StatusOr<Published> Publisher::PublishOnce(const std::string& queue,
                                                 const std::vector<OutgoingMessage>& messages) {
  std::unique_ptr<grpc::ClientContext> context = NewContext();
  spine::v1::PublishRequest request;
  Fill(queue, messages, 0, messages.size(), &request);
  spine::v1::PublishResponse response;
  const grpc::Status status = stub_->Publish(context.get(), request, &response);
  if (!status.ok()) return rpc::FromGrpcStatus(status);
  return Published{.accepted = response.accepted(), .duplicates = response.duplicates()};
}

absl::StatusOr<Published> Publisher::PublishStreamOnce(const std::string& queue,
                                                       const std::vector<OutgoingMessage>& messages,
                                                       int chunk) {
  std::unique_ptr<grpc::ClientContext> context = NewContext();
  spine::v1::PublishResponse response;
  std::unique_ptr<grpc::ClientWriter<spine::v1::PublishRequest>> writer =
      stub_->PublishStream(context.get(), &response);
  const auto step = static_cast<size_t>(chunk);
  for (size_t begin = 0; begin < messages.size(); begin += step) {
    spine::v1::PublishRequest request;
    Fill(queue, messages, begin, std::min(messages.size(), begin + step), &request);
    // A failed write means the call has ended; Finish says why.
    if (!writer->Write(request)) break;
  }
  writer->WritesDone();
  const grpc::Status status = writer->Finish();
  if (!status.ok()) return rpc::FromGrpcStatus(status);
  return Published{.accepted = response.accepted(), .duplicates = response.duplicates()};
}

}  // namespace spine::bus
