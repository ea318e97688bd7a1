#include "libs/audit/storage_audit_writer.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/core/log.h"
#include "libs/rpc/channel.h"
#include "libs/rpc/request_id.h"
#include "libs/rpc/status_convert.h"

namespace spine::audit {
namespace {

bool IsTransient(grpc::StatusCode code) {
  return code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::DEADLINE_EXCEEDED ||
         code == grpc::StatusCode::RESOURCE_EXHAUSTED;
}

// What a loss log line says about an event: enough to find it, none of its details.
log::Fields Describe(const spine::v1::AuditEvent& event) {
  return {{"action", event.action()},
          {"target", event.target()},
          {"actor", event.actor()},
          {"outcome", event.outcome()},
          {"request_id", event.request_id()}};
}

}  // namespace

StorageAuditWriter::StorageAuditWriter(const std::shared_ptr<grpc::Channel>& storage,
                                       const std::string& service_token, AuditWriterOptions options)
    : StorageAuditWriter(
          storage,
          [authorization = "Bearer " + service_token]() -> absl::StatusOr<std::string> {
            return authorization;
          },
          options) {}

StorageAuditWriter::StorageAuditWriter(const std::shared_ptr<grpc::Channel>& storage,
                                       AuthorizationSource authorization,
                                       AuditWriterOptions options)
    : stub_(spine::v1::StorageService::NewStub(storage)),
      authorization_(std::move(authorization)),
      options_(options),
      thread_([this] { Run(); }) {}

StorageAuditWriter::~StorageAuditWriter() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    stop_by_ = absl::Now() + options_.flush_timeout;
  }
  thread_.join();
  absl::MutexLock lock(&mu_);
  if (!queue_.empty()) {
    log::Error("audit events not written before shutdown",
               {{"count", std::to_string(queue_.size())}});
    stats_.failed += static_cast<int64_t>(queue_.size());
    queue_.clear();
  }
}

void StorageAuditWriter::Record(spine::v1::AuditEvent event) {
  absl::MutexLock lock(&mu_);
  if (queue_.size() >= options_.queue_limit) {
    ++stats_.dropped;
    log::Error("audit event dropped: queue full", Describe(event));
    return;
  }
  queue_.push_back(std::move(event));
}

AuditWriterStats StorageAuditWriter::Stats() const {
  absl::MutexLock lock(&mu_);
  AuditWriterStats stats = stats_;
  stats.queued = static_cast<int64_t>(queue_.size()) + (writing_ ? 1 : 0);
  return stats;
}

bool StorageAuditWriter::Flush(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return queue_.empty() && !writing_; };
  return mu_.AwaitWithTimeout(absl::Condition(&idle), timeout);
}

bool StorageAuditWriter::Stopping() const {
  absl::MutexLock lock(&mu_);
  return stopping_;
}

void StorageAuditWriter::Run() {
  while (true) {
    std::vector<spine::v1::AuditEvent> batch;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]()
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !queue_.empty() || stopping_; };
      mu_.Await(absl::Condition(&ready));
      if (queue_.empty() || absl::Now() >= stop_by_) return;
      const size_t count = std::min(queue_.size(), options_.batch_limit);
      batch.reserve(count);
      for (size_t i = 0; i < count; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      writing_ = static_cast<int64_t>(count);
    }
    const int64_t failed = Write(batch);
    absl::MutexLock lock(&mu_);
    writing_ = 0;
    stats_.failed += failed;
    stats_.written += static_cast<int64_t>(batch.size()) - failed;
  }
}

template <typename Call>
grpc::Status StorageAuditWriter::WithRetries(const std::string& request_id, Call call) {
  absl::Duration pause = options_.retry_pause;
  grpc::Status status;
  for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
    absl::StatusOr<std::string> authorization = authorization_();
    if (!authorization.ok()) return rpc::ToGrpcStatus(authorization.status());
    auto context = rpc::MakeClientContext(options_.deadline);
    context->AddMetadata("authorization", *authorization);
    if (rpc::IsValidRequestId(request_id)) context->AddMetadata(rpc::kRequestIdHeader, request_id);
    status = call(context.get());
    if (status.ok() || !IsTransient(status.error_code()) || attempt == options_.max_attempts) break;
    // At shutdown there is no time to wait out an outage; the rest is counted as failed.
    if (Stopping()) break;
    absl::SleepFor(pause);
    pause *= 2;
  }
  return status;
}

int64_t StorageAuditWriter::Write(const std::vector<spine::v1::AuditEvent>& batch) {
  spine::v1::AppendAuditEventsRequest request;
  for (const spine::v1::AuditEvent& event : batch) *request.add_events() = event;
  // A batch carries its first event's request id, so storage's log line names one of them.
  const grpc::Status status =
      WithRetries(batch.front().request_id(), [&](grpc::ClientContext* context) {
        spine::v1::AppendAuditEventsResponse response;
        return stub_->AppendAuditEvents(context, request, &response);
      });
  if (status.ok()) return 0;
  if ((status.error_code() == grpc::StatusCode::INVALID_ARGUMENT ||
       status.error_code() == grpc::StatusCode::PERMISSION_DENIED) &&
      batch.size() > 1) {
    // One bad event (or one action this service may not record) refuses the whole batch: write
    // them one at a time to keep the good ones.
    int64_t failed = 0;
    for (const spine::v1::AuditEvent& event : batch) failed += Write({event});
    return failed;
  }
  for (const spine::v1::AuditEvent& event : batch) {
    log::Fields fields = Describe(event);
    fields.emplace_back("code", absl::StatusCodeToString(rpc::FromGrpcStatus(status).code()));
    fields.emplace_back("error", status.error_message());
    log::Error("audit event not written", fields);
  }
  return static_cast<int64_t>(batch.size());
}

}  // namespace spine::audit
