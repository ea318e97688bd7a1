// ManualScheduler: a Scheduler that runs tasks only when the test says so, on the test's thread,
// with time from a FakeClock — so deadline and token-timing tests are exact and instant.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/core/clock.h"
#include "libs/core/scheduler.h"

namespace spine {

class ManualScheduler final : public Scheduler {
 public:
  explicit ManualScheduler(FakeClock& clock) : clock_(clock) {}

  TimerId RunAt(absl::Time when, std::function<void()> task) override {
    absl::MutexLock lock(&mu_);
    const TimerId id = next_id_++;
    tasks_.emplace(std::make_pair(when, id), std::move(task));
    return id;
  }

  bool Cancel(TimerId id) override {
    absl::MutexLock lock(&mu_);
    for (auto it = tasks_.begin(); it != tasks_.end(); ++it) {
      if (it->first.second == id) {
        tasks_.erase(it);
        return true;
      }
    }
    return false;
  }

  // Runs every task due at the clock's time, including those they schedule for then. Returns how
  // many ran.
  int RunDue() {
    int ran = 0;
    while (std::optional<std::function<void()>> task = PopDue(clock_.Now())) {
      (*task)();
      ++ran;
    }
    return ran;
  }

  // Moves the clock forward by `d`, stopping at each task's time to run it.
  void Advance(absl::Duration d) {
    const absl::Time end = clock_.Now() + d;
    RunDue();
    while (std::optional<absl::Time> next = NextTime()) {
      if (*next > end) break;
      if (*next > clock_.Now()) clock_.Set(*next);
      RunDue();
    }
    clock_.Set(end);
    RunDue();
  }

  size_t pending() const {
    absl::MutexLock lock(&mu_);
    return tasks_.size();
  }

 private:
  std::optional<std::function<void()>> PopDue(absl::Time now) {
    absl::MutexLock lock(&mu_);
    if (tasks_.empty() || tasks_.begin()->first.first > now) return std::nullopt;
    std::function<void()> task = std::move(tasks_.begin()->second);
    tasks_.erase(tasks_.begin());
    return task;
  }

  std::optional<absl::Time> NextTime() const {
    absl::MutexLock lock(&mu_);
    if (tasks_.empty()) return std::nullopt;
    return tasks_.begin()->first.first;
  }

  FakeClock& clock_;
  mutable absl::Mutex mu_;
  std::map<std::pair<absl::Time, TimerId>, std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  TimerId next_id_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace spine
