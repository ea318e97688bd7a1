#include "libs/core/scheduler.h"

#include <utility>

namespace spine {

ThreadScheduler::ThreadScheduler(const Clock& clock) : clock_(clock) {
  thread_ = std::thread([this] { Loop(); });
}

ThreadScheduler::~ThreadScheduler() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    wake_.Signal();
  }
  thread_.join();
}

TimerId ThreadScheduler::RunAt(absl::Time when, std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  const TimerId id = next_id_++;
  const bool earliest = tasks_.empty() || std::make_pair(when, id) < tasks_.begin()->first;
  tasks_.emplace(std::make_pair(when, id), std::move(task));
  times_.emplace(id, when);
  if (earliest) wake_.Signal();
  return id;
}

bool ThreadScheduler::Cancel(TimerId id) {
  std::function<void()> dropped;  // destroyed after the lock is released
  absl::MutexLock lock(&mu_);
  auto it = times_.find(id);
  if (it != times_.end()) {
    auto task = tasks_.find(std::make_pair(it->second, id));
    dropped = std::move(task->second);
    tasks_.erase(task);
    times_.erase(it);
    return true;
  }
  // From a task on our own thread the running task is the caller itself: nothing to wait for.
  if (std::this_thread::get_id() != thread_.get_id()) {
    while (running_ == id) finished_.Wait(&mu_);
  }
  return false;
}

void ThreadScheduler::Loop() {
  mu_.Lock();
  while (!stopping_) {
    if (tasks_.empty()) {
      wake_.Wait(&mu_);
      continue;
    }
    auto first = tasks_.begin();
    const absl::Duration wait = first->first.first - clock_.Now();
    if (wait > absl::ZeroDuration()) {
      wake_.WaitWithTimeout(&mu_, wait);
      continue;
    }
    const TimerId id = first->first.second;
    std::function<void()> task = std::move(first->second);
    tasks_.erase(first);
    times_.erase(id);
    running_ = id;
    mu_.Unlock();
    task();
    task = nullptr;  // captured state is released before Cancel's waiters are woken
    mu_.Lock();
    running_ = 0;
    finished_.SignalAll();
  }
  mu_.Unlock();
}

}  // namespace spine
