// StorageAuditWriter: an AuditSink that appends events to spine-storage's audit log
// (StorageService.AppendAuditEvents, with the service's own token) from one background thread.
// Whatever has queued up while a write was in flight goes in the next one, up to `batch_limit`
// events in one call and one transaction, so the log keeps up with thousands of prompts a second.
// A batch storage refuses as a whole (one bad event makes it INVALID_ARGUMENT) is written again
// event by event, so only the bad one is lost.
//
// Record only queues, so an audited request never waits on storage. The queue is bounded: an
// event that does not fit is dropped, and a write that still fails after its retries is given up;
// either way the loss is logged (action, target, actor, outcome; never the event's details, which
// may hold prompt text) and counted in Stats(), which the service reports in its status probe.
// Transient failures (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED) are retried with a
// growing pause; anything else (a refused event) is not.
//
// Destruction writes out what is queued for at most `flush_timeout`, then counts the rest as
// failed. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "libs/audit/audit_sink.h"
#include "spine/v1/storage.grpc.pb.h"

namespace spine::audit {

struct AuditWriterOptions {
  size_t queue_limit = 4096;                             // events waiting to be written
  size_t batch_limit = 256;                              // events in one AppendAuditEvents
  int max_attempts = 3;                                  // per call, for transient failures
  absl::Duration deadline = absl::Seconds(5);            // per call
  absl::Duration retry_pause = absl::Milliseconds(200);  // doubled after each failed attempt
  absl::Duration flush_timeout = absl::Seconds(3);       // on destruction
};

struct AuditWriterStats {
  int64_t written = 0;
  int64_t failed = 0;   // given up after the retries, or left unwritten at shutdown
  int64_t dropped = 0;  // refused because the queue was full
  int64_t queued = 0;
};

class StorageAuditWriter final : public AuditSink {
 public:
  StorageAuditWriter(const std::shared_ptr<grpc::Channel>& storage,
                     const std::string& service_token, AuditWriterOptions options = {});
  // For a service whose token is re-minted while it runs (the gateway's ServiceTokenSource):
  // `authorization` gives the current "Bearer ..." value for each call; it must be thread-safe
  // and outlive the writer.
  using AuthorizationSource = std::function<absl::StatusOr<std::string>()>;
  StorageAuditWriter(const std::shared_ptr<grpc::Channel>& storage,
                     AuthorizationSource authorization, AuditWriterOptions options = {});
  StorageAuditWriter(const StorageAuditWriter&) = delete;
  StorageAuditWriter& operator=(const StorageAuditWriter&) = delete;
  ~StorageAuditWriter() override;

  void Record(spine::v1::AuditEvent event) override;
  AuditWriterStats Stats() const;

  // Blocks until every event recorded so far is written or given up, or `timeout` passes;
  // returns whether the queue was emptied. For tests and orderly shutdown.
  bool Flush(absl::Duration timeout);

 private:
  void Run();
  // One batch, with its retries; returns how many of its events were given up.
  int64_t Write(const std::vector<spine::v1::AuditEvent>& batch);
  // The status of one call, retried while it is transient and there is time.
  template <typename Call>
  grpc::Status WithRetries(const std::string& request_id, Call call);
  bool Stopping() const ABSL_LOCKS_EXCLUDED(mu_);

  const std::unique_ptr<spine::v1::StorageService::Stub> stub_;
  const AuthorizationSource authorization_;
  const AuditWriterOptions options_;

  mutable absl::Mutex mu_;
  std::deque<spine::v1::AuditEvent> queue_ ABSL_GUARDED_BY(mu_);
  int64_t writing_ ABSL_GUARDED_BY(mu_) = 0;  // events out of the queue, being written
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time stop_by_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  AuditWriterStats stats_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace spine::audit
