// GenerationRecorder: collects what a Backend reports for one generation, for tests to wait on
// (with a deadline) and inspect.
#pragma once

#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "services/llm/backends/backend.h"

namespace spine::llm::testing {

class GenerationRecorder {
 public:
  Backend::OnDelta OnDelta() {
    return [this](absl::string_view delta) {
      absl::MutexLock lock(&mu_);
      deltas_.emplace_back(delta);
      if (!first_delta_.HasBeenNotified()) first_delta_.Notify();
    };
  }
  Backend::OnDone OnDone() {
    return [this](absl::StatusOr<GenerateResult> result) {
      absl::MutexLock lock(&mu_);
      ++done_calls_;
      if (!result_.has_value()) {
        result_ = std::move(result);
        done_thread_ = std::this_thread::get_id();
        done_.Notify();
      }
    };
  }

  bool WaitFirstDelta(absl::Duration timeout) {
    return first_delta_.WaitForNotificationWithTimeout(timeout);
  }
  bool WaitDone(absl::Duration timeout = absl::Seconds(10)) {
    return done_.WaitForNotificationWithTimeout(timeout);
  }

  absl::StatusOr<GenerateResult> result() const {
    absl::MutexLock lock(&mu_);
    return result_.value_or(absl::UnknownError("not done"));
  }
  std::vector<std::string> deltas() const {
    absl::MutexLock lock(&mu_);
    return deltas_;
  }
  int done_calls() const {
    absl::MutexLock lock(&mu_);
    return done_calls_;
  }
  std::thread::id done_thread() const {
    absl::MutexLock lock(&mu_);
    return done_thread_;
  }

 private:
  absl::Notification first_delta_;
  absl::Notification done_;
  mutable absl::Mutex mu_;
  std::vector<std::string> deltas_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::StatusOr<GenerateResult>> result_ ABSL_GUARDED_BY(mu_);
  std::thread::id done_thread_ ABSL_GUARDED_BY(mu_);
  int done_calls_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace spine::llm::testing
