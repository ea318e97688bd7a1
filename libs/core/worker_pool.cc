#include "libs/core/worker_pool.h"

#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"

namespace spine {

absl::StatusOr<std::unique_ptr<WorkerPool>> WorkerPool::Create(int num_threads, size_t max_queued) {
  if (num_threads < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("worker pool: num_threads=", num_threads, ", at least 1"));
  }
  if (max_queued < 1) {
    return absl::InvalidArgumentError("worker pool: max_queued=0, at least 1");
  }
  // The constructor is private and cannot fail; make_unique cannot reach it.
  std::unique_ptr<WorkerPool> pool(new WorkerPool(max_queued));
  // On failure the threads already started are joined by the pool's destructor (Shutdown):
  // nothing can have been queued yet, so they exit as soon as they are told to stop.
  if (absl::Status started = pool->StartThreads(num_threads); !started.ok()) return started;
  return pool;
}

absl::Status WorkerPool::StartThreads(int num_threads) {
  absl::MutexLock lock(&join_mu_);
  threads_.reserve(static_cast<size_t>(num_threads));
  for (int i = 0; i < num_threads; ++i) {
    try {
      threads_.emplace_back([this] { WorkerLoop(); });
    } catch (const std::system_error& e) {
      return absl::ResourceExhaustedError(absl::StrCat("worker pool: starting thread ", i + 1,
                                                       " of ", num_threads, ": ", e.what()));
    }
  }
  return absl::OkStatus();
}

WorkerPool::WorkerPool(size_t max_queued) : max_queued_(max_queued) {}

WorkerPool::~WorkerPool() { Shutdown(); }

absl::Status WorkerPool::Submit(std::function<void()> task) {
  if (!task) return absl::InvalidArgumentError("worker pool: empty task");
  absl::MutexLock lock(&mu_);
  if (stopping_) return absl::FailedPreconditionError("worker pool: shut down");
  if (queue_.size() >= max_queued_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("worker pool: ", queue_.size(), " tasks queued, at most ", max_queued_));
  }
  queue_.push_back(std::move(task));
  return absl::OkStatus();
}

void WorkerPool::Shutdown() {
  absl::MutexLock join_lock(&join_mu_);
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
  threads_.clear();
}

bool WorkerPool::HasWorkOrStopping() const { return stopping_ || !queue_.empty(); }

void WorkerPool::WorkerLoop() {
  while (true) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mu_, absl::Condition(this, &WorkerPool::HasWorkOrStopping));
      // Stopping with work left still takes the work: Shutdown drains.
      if (queue_.empty()) return;
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();
  }
}

}  // namespace spine
