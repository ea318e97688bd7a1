// RunRecovery: picks up the unfinished runs (TaskEngine::Recover) once spine-storage answers, on
// its own thread, retried with a growing pause (200 ms doubling to 5 s) until it succeeds or the
// RunRecovery is destroyed. The engine must outlive it.
#pragma once

#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "services/tasks/engine/task_engine.h"

namespace spine::tasks {

class RunRecovery {
 public:
  explicit RunRecovery(TaskEngine& engine);
  // Stops retrying (a Recover under way finishes first).
  ~RunRecovery();
  RunRecovery(const RunRecovery&) = delete;
  RunRecovery& operator=(const RunRecovery&) = delete;

 private:
  void Run(TaskEngine& engine);

  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace spine::tasks
