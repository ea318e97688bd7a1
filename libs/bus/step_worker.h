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
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "libs/bus/cancellable_jobs.h"
#include "libs/bus/consumer.h"
#include "libs/bus/publisher.h"
#include "spine/v1/tasks.pb.h"

namespace spine::bus {

// What a service plugs into the StepWorker: starting a job, and what it can run. The worker keeps
// track of the running jobs and stops them (a cancel from the bus, Stop), so runners only say how.
class StepRunner {
 public:
  using Done = std::function<void(absl::StatusOr<google::protobuf::Value>)>;
  virtual ~StepRunner() = default;
  // Starts `job`. Accepted: returns how to stop it, and `done` is called exactly once, on any
  // thread (possibly before Start returns), with its output or error (CANCELLED once stopped).
  // Refused (a job of the wrong kind is INVALID_ARGUMENT, a full queue RESOURCE_EXHAUSTED, …):
  // returns the error and `done` is never called.
  virtual absl::StatusOr<StopFn> Start(const spine::v1::StepJob& job, Done done) = 0;
  // The models (kind "llm") or plugins (kind "plugin") it can run now.
  virtual std::vector<std::string> Names() const = 0;
};

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

 private:
  StepWorker(std::shared_ptr<grpc::Channel> bus, StepWorkerOptions options, StepRunner& runner);

  absl::Status HandleJob(const ReceivedMessage& message);
  absl::Status HandleCancel(const ReceivedMessage& message);
  // Runs `job` through the runner, stoppable by its id, until it answers.
  absl::StatusOr<google::protobuf::Value> Run(const spine::v1::StepJob& job);
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
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool advertise_now_ ABSL_GUARDED_BY(mu_) = false;  // the job stream (re)subscribed
  CancellableJobs running_;                          // what a cancel from the bus or Stop stops
  std::thread advertiser_;
};

}  // namespace spine::bus
