// WorkerPool: a fixed set of threads running queued tasks, for CPU-heavy work (password hashing)
// that must not run on an I/O thread.
//
// The queue is bounded and Submit never blocks: when the queue is full the caller is told at once
// (RESOURCE_EXHAUSTED) and can shed the request, rather than stalling an I/O thread or letting a
// burst of logins pile up unbounded memory (each scrypt takes 32 MiB while it runs).
//
// Shutdown drains: every task Submit accepted runs exactly once, even when Shutdown is already
// under way, so a caller waiting for a task's callback is never left hanging. Shutdown then joins
// all threads.
//
// Thread-safety: Submit and Shutdown may be called from any thread at once, except that Shutdown
// (and the destructor) must not be called from inside a task, which would wait for itself. Tasks
// must not throw: as with std::thread, an exception escaping a task terminates the process.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace spine {

class WorkerPool {
 public:
  // Starts `num_threads` threads (>= 1) over a queue of at most `max_queued` (>= 1) tasks waiting
  // to run. INVALID_ARGUMENT for a zero or negative size; RESOURCE_EXHAUSTED when the system
  // refuses a thread (the ones already started are joined).
  static absl::StatusOr<std::unique_ptr<WorkerPool>> Create(int num_threads, size_t max_queued);

  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;
  // Shutdown().
  ~WorkerPool();

  // Queues `task` to run on one of the threads. Never blocks. RESOURCE_EXHAUSTED when
  // max_queued tasks are already waiting, FAILED_PRECONDITION after Shutdown has begun,
  // INVALID_ARGUMENT for an empty function. On error `task` is dropped without running.
  absl::Status Submit(std::function<void()> task);

  // Stops accepting tasks, waits until every accepted task has run, and joins the threads.
  // Idempotent; a concurrent second caller returns once the threads are joined too.
  void Shutdown();

 private:
  explicit WorkerPool(size_t max_queued);

  // Called once, from Create.
  absl::Status StartThreads(int num_threads);
  void WorkerLoop();
  bool HasWorkOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const size_t max_queued_;

  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  // Held for the whole of starting or joining the threads, so a second Shutdown waits for the
  // first to finish joining instead of joining the same thread twice. Never held with mu_ taken
  // inside it the other way round: the order is always join_mu_, then mu_.
  absl::Mutex join_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(join_mu_);
};

}  // namespace spine
