// CancellableJobs: the StepRunners' record of the jobs they are running, so a cancel from the
// bus ("steps.<kind>.cancel") reaches the right generation or invocation — including a cancel
// that arrives between the job being accepted and its handle being known. Thread-safe.
#pragma once

#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace spine::bus {

// `Handle` is copyable and has Cancel() const (JobHandle, InvocationHandle).
template <typename Handle>
class CancellableJobs {
 public:
  // The job is about to be submitted.
  void Begin(const std::string& job_id) {
    absl::MutexLock lock(&mu_);
    jobs_[job_id];
  }
  // Submitted: remembers its handle, and cancels it at once if a cancel came meanwhile. A job
  // that already ended (End ran first) is left alone.
  void Attach(const std::string& job_id, const Handle& handle) {
    bool cancel_now = false;
    {
      absl::MutexLock lock(&mu_);
      auto it = jobs_.find(job_id);
      if (it == jobs_.end()) return;
      it->second.handle = handle;
      cancel_now = it->second.cancel_requested;
    }
    if (cancel_now) handle.Cancel();
  }
  // The job ended, or was refused.
  void End(const std::string& job_id) {
    absl::MutexLock lock(&mu_);
    jobs_.erase(job_id);
  }
  // Cancels the job if it is running; remembered for Attach if it is not submitted yet.
  void Cancel(const std::string& job_id) {
    std::optional<Handle> handle;
    {
      absl::MutexLock lock(&mu_);
      auto it = jobs_.find(job_id);
      if (it == jobs_.end()) return;
      it->second.cancel_requested = true;
      handle = it->second.handle;
    }
    if (handle) handle->Cancel();
  }

 private:
  struct Job {
    std::optional<Handle> handle;
    bool cancel_requested = false;
  };
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Job> jobs_ ABSL_GUARDED_BY(mu_);
};

}  // namespace spine::bus
