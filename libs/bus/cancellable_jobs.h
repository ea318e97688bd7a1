// Stopping work whose handle comes later: a cancel may arrive between the work being accepted
// and its handle being known (a gRPC call cancelled while its job is submitted, a bus cancel for
// a step job being started). Both are thread-safe and never call a stop under their lock.
//
// PendingCancel: one piece of work (a gRPC reactor's generation or invocation).
// CancellableJobs: the step jobs a StepWorker is running, by job id.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace spine::bus {

// How to stop one piece of work (e.g. a JobHandle's or InvocationHandle's Cancel). Stopping
// work that has already ended must be harmless.
using StopFn = std::function<void()>;

class PendingCancel {
 public:
  // The work was submitted and `stop` stops it; called at once if a cancel came meanwhile.
  void Attach(StopFn stop) {
    {
      absl::MutexLock lock(&mu_);
      if (!cancelled_) {
        stop_ = std::move(stop);
        return;
      }
    }
    stop();
  }
  // Stops the work if it is attached; otherwise it is stopped when it is.
  void Cancel() {
    StopFn stop;
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
      stop = stop_;
    }
    if (stop) stop();
  }

 private:
  absl::Mutex mu_;
  StopFn stop_ ABSL_GUARDED_BY(mu_);
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
};

class CancellableJobs {
 public:
  // The job is about to be started.
  void Begin(const std::string& job_id) {
    absl::MutexLock lock(&mu_);
    jobs_.try_emplace(job_id, std::make_shared<PendingCancel>());
  }
  // Started: `stop` stops it, at once if a cancel came meanwhile. Nothing for an ended job.
  void Attach(const std::string& job_id, StopFn stop) {
    if (std::shared_ptr<PendingCancel> job = Find(job_id)) job->Attach(std::move(stop));
  }
  // The job ended, or was refused.
  void End(const std::string& job_id) {
    absl::MutexLock lock(&mu_);
    jobs_.erase(job_id);
  }
  // Stops the job if it is running; remembered for Attach if it is not started yet.
  void Cancel(const std::string& job_id) {
    if (std::shared_ptr<PendingCancel> job = Find(job_id)) job->Cancel();
  }
  // Stops every job that has begun and not ended.
  void CancelAll() {
    std::vector<std::shared_ptr<PendingCancel>> jobs;
    {
      absl::MutexLock lock(&mu_);
      for (const auto& [id, job] : jobs_) jobs.push_back(job);
    }
    for (const std::shared_ptr<PendingCancel>& job : jobs) job->Cancel();
  }

 private:
  std::shared_ptr<PendingCancel> Find(const std::string& job_id) {
    absl::MutexLock lock(&mu_);
    auto it = jobs_.find(job_id);
    return it == jobs_.end() ? nullptr : it->second;
  }

  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<PendingCancel>> jobs_ ABSL_GUARDED_BY(mu_);
};

}  // namespace spine::bus
