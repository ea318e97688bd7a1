// StepWorker: the executor side of the TaskEngine's step jobs, shared by spine-llm and
// spine-plugins. It consumes "steps.<kind>", runs each StepJob through the service's StepRunner
// (its own RunnerPool or PluginHost, with the same limits, fairness and audit as a direct call),
// publishes the StepResult to "steps.results", and only then acknowledges the job. It stops jobs
// named on "steps.<kind>.cancel", and advertises what the runner can run on
// "executors.advertise" every `advertise_every` (so the ExecutorRegistry knows it is alive), and
// at once whenever its job stream (re)subscribes, so a spine-tasks that starts after it or
// restarts knows it within moments, not a period later (its /readyz waits for that). A failed
// advertisement is retried within kAdvertiseRetry.
//
// A job delivered again after its result was published (the ack was lost, or spine-tasks
// restarted and sent the attempt in flight again) is answered from a bounded cache of recent
// results, never run twice. A job whose deadline has passed is answered DEADLINE_EXCEEDED
// without running. If its result cannot be published the job is left unacknowledged, so the bus
// delivers it again and the cached result is published then.
//
// Thread-safe. Runs on the Consumer's threads (`concurrency` jobs at once).
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "libs/bus/consumer.h"
#include "libs/bus/publisher.h"
#include "spine/v1/tasks.pb.h"

namespace spine::bus {

// What a service plugs into the StepWorker.
class StepRunner {
 public:
  virtual ~StepRunner() = default;
  // Runs `job`; `done` is called exactly once, on any thread, with its output or error.
  // A runner refuses a job of the wrong kind with INVALID_ARGUMENT.
  virtual void Run(const spine::v1::StepJob& job,
                   std::function<void(absl::StatusOr<google::protobuf::Value>)> done) = 0;
  // Stops the job if it is running (its `done` follows with CANCELLED). Never blocks.
  virtual void Cancel(const std::string& job_id) = 0;
  // The models (kind "llm") or plugins (kind "plugin") it can run now.
  virtual std::vector<std::string> Names() const = 0;
};

// When `job` must be answered by: its deadline, or never if it has none.
absl::Time DeadlineOf(const spine::v1::StepJob& job);

// How soon a failed advertisement is tried again (at most advertise_every).
inline constexpr absl::Duration kAdvertiseRetry = absl::Seconds(1);

struct StepWorkerOptions {
  std::string kind;           // "llm" or "plugin"
  std::string executor_name;  // unique per process, e.g. "llm@host:pid"
  std::string service_token;  // a JWT with role "service"
  int concurrency = 16;       // jobs run at once
  absl::Duration advertise_every = absl::Seconds(10);
  size_t result_cache = 10000;  // recent results kept for redelivered jobs
};

class StepWorker {
 public:
  // Starts consuming and advertising. INVALID_ARGUMENT for bad options.
  static absl::StatusOr<std::unique_ptr<StepWorker>> Start(std::shared_ptr<grpc::Channel> bus,
                                                           StepWorkerOptions options,
                                                           StepRunner& runner);
  StepWorker(const StepWorker&) = delete;
  StepWorker& operator=(const StepWorker&) = delete;
  ~StepWorker();

  // Stops consuming and advertising; running jobs are cancelled. Idempotent.
  void Stop();

  // The result an error status becomes.
  static spine::v1::RunError ErrorOf(const absl::Status& status);

 private:
  StepWorker(std::shared_ptr<grpc::Channel> bus, StepWorkerOptions options, StepRunner& runner);

  absl::Status HandleJob(const ReceivedMessage& message);
  absl::Status HandleCancel(const ReceivedMessage& message);
  absl::Status Publish(const spine::v1::StepResult& result, const std::string& delivery_id);
  void AdvertiseLoop();
  void Remember(const spine::v1::StepResult& result) ABSL_LOCKS_EXCLUDED(mu_);

  const std::shared_ptr<grpc::Channel> bus_;
  const StepWorkerOptions options_;
  StepRunner& runner_;
  Publisher publisher_;
  std::unique_ptr<Consumer> jobs_;
  std::unique_ptr<Consumer> cancels_;

  absl::Mutex mu_;
  absl::flat_hash_map<std::string, spine::v1::StepResult> results_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> result_order_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> running_ ABSL_GUARDED_BY(mu_);  // job ids being run
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool advertise_now_ ABSL_GUARDED_BY(mu_) = false;  // the job stream (re)subscribed
  std::thread advertiser_;
};

}  // namespace spine::bus
