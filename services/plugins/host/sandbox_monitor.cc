#include "services/plugins/host/sandbox_monitor.h"

#include <string>
#include <utility>

#include "libs/core/log.h"

namespace spine::plugins {

SandboxMonitor::SandboxMonitor(SelfTest self_test, std::function<void(bool)> on_result,
                               const Clock& clock, absl::Duration interval,
                               absl::Duration fresh_for)
    : self_test_(std::move(self_test)),
      on_result_(std::move(on_result)),
      clock_(clock),
      interval_(interval),
      fresh_for_(fresh_for) {}

absl::Status SandboxMonitor::RunOnce() {
  std::string layers;
  absl::Status status = self_test_(&layers);
  bool changed = false;
  {
    absl::MutexLock lock(&mu_);
    changed = status.ok() != last_ok_ || !last_pass_.has_value();
    last_ok_ = status.ok();
    if (status.ok()) last_pass_ = clock_.MonotonicNow();
    last_report_ = status.ok() ? layers : std::string(status.message());
  }
  if (!status.ok()) {
    log::Error("plugin sandbox self-test failed; plugins are refused",
               {{"error", std::string(status.message())}});
  } else if (changed) {
    log::Info("plugin sandbox self-test passed", {{"layers", layers}});
  }
  if (on_result_) on_result_(status.ok());
  return status;
}

void SandboxMonitor::Start() {
  thread_ = std::thread([this] {
    for (;;) {
      {
        absl::MutexLock lock(&mu_);
        // Waits out the interval unless Stop comes first (a condition, not a sleep).
        auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
        mu_.AwaitWithTimeout(absl::Condition(&stopping), interval_);
        if (stopping_) return;
      }
      (void)RunOnce();
    }
  });
}

void SandboxMonitor::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

std::string SandboxMonitor::Report() const {
  absl::MutexLock lock(&mu_);
  return last_report_;
}

bool SandboxMonitor::Alive() const {
  absl::MutexLock lock(&mu_);
  return last_ok_ && last_pass_.has_value() && clock_.MonotonicNow() - *last_pass_ <= fresh_for_;
}

}  // namespace spine::plugins
