// Scheduler: runs tasks at given times, so everything in a service that waits (spine-llm's
// queued-job deadlines and stub token timings, spine-tasks' retry back-offs and step timeouts)
// shares one timer thread instead of a thread per request, and a test can drive time by hand
// (ManualScheduler in tests/support/).
//
// Times are on Clock::Now() (wall clock): the callers' deadlines come from gRPC, whose deadlines
// are wall-clock times.
//
// Tasks run one at a time, in time order (ties in the order they were scheduled), never inline in
// RunAt. Tasks must not block; they may call RunAt and Cancel.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/core/clock.h"

namespace spine {

using TimerId = uint64_t;

class Scheduler {
 public:
  virtual ~Scheduler() = default;
  // Runs `task` once at `when` (at once, but still not inline, when `when` has passed). Returns
  // an id for Cancel; ids are never 0.
  virtual TimerId RunAt(absl::Time when, std::function<void()> task) = 0;
  // Removes the task if it has not started and returns true. Otherwise returns false, after the
  // task has finished if it is running on another thread (so a caller may free what the task
  // uses). Must not be called while holding a lock that a task may take.
  virtual bool Cancel(TimerId id) = 0;
};

// The real Scheduler: one thread waiting for the earliest task. Thread-safe. Destroying it stops
// the thread; tasks that have not run are dropped without running.
class ThreadScheduler final : public Scheduler {
 public:
  explicit ThreadScheduler(const Clock& clock);
  ThreadScheduler(const ThreadScheduler&) = delete;
  ThreadScheduler& operator=(const ThreadScheduler&) = delete;
  ~ThreadScheduler() override;

  TimerId RunAt(absl::Time when, std::function<void()> task) override;
  bool Cancel(TimerId id) override;

 private:
  void Loop();

  const Clock& clock_;
  absl::Mutex mu_;
  absl::CondVar wake_;      // a task was added, or stopping
  absl::CondVar finished_;  // the running task finished
  // Keyed by (time, id): ids grow, so equal times run in scheduling order.
  std::map<std::pair<absl::Time, TimerId>, std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  std::map<TimerId, absl::Time> times_ ABSL_GUARDED_BY(mu_);
  TimerId next_id_ ABSL_GUARDED_BY(mu_) = 1;
  TimerId running_ ABSL_GUARDED_BY(mu_) = 0;  // the task being run, 0 for none
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace spine
