#include "services/plugins/host/circuit_breaker.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "libs/rpc/error_info.h"

namespace spine::plugins {

void CircuitBreaker::Prune(absl::Time now) {
  while (!crashes_.empty() && now - crashes_.front() >= options_.window) crashes_.pop_front();
}

absl::Status CircuitBreaker::Admit(absl::string_view plugin, bool* trial) {
  absl::MutexLock lock(&mu_);
  *trial = false;
  if (!open_) return absl::OkStatus();
  const absl::Time now = clock_.MonotonicNow();
  const absl::Duration left = opened_at_ + options_.open_for - now;
  if (left <= absl::ZeroDuration() && !trial_in_flight_) {
    trial_in_flight_ = true;  // half-open: this one decides
    *trial = true;
    return absl::OkStatus();
  }
  const int64_t retry_after =
      std::max<int64_t>(1, static_cast<int64_t>(std::ceil(absl::ToDoubleSeconds(left))));
  return rpc::WithErrorInfo(
      absl::UnavailableError(absl::StrCat("plugin '", plugin,
                                          "' is disabled after repeated crashes; retry in ",
                                          retry_after, " s")),
      "PLUGIN_DISABLED",
      {{"plugin", std::string(plugin)}, {"retryAfterSeconds", absl::StrCat(retry_after)}});
}

void CircuitBreaker::Record(Outcome outcome, bool trial) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_.MonotonicNow();
  // Only the trial's own outcome decides; one admitted before the circuit opened does not.
  trial = trial && open_ && trial_in_flight_;
  if (trial) trial_in_flight_ = false;
  switch (outcome) {
    case Outcome::kSuccess:
      if (trial) {
        open_ = false;
        crashes_.clear();
      }
      return;
    case Outcome::kNeither:
      return;
    case Outcome::kCrash:
      if (open_) {
        // A failed trial, or a straggler admitted before the circuit opened.
        if (trial) opened_at_ = now;
        return;
      }
      crashes_.push_back(now);
      Prune(now);
      if (static_cast<int>(crashes_.size()) >= options_.crashes) {
        open_ = true;
        opened_at_ = now;
      }
      return;
  }
}

CircuitBreaker::State CircuitBreaker::state() const {
  absl::MutexLock lock(&mu_);
  if (open_) {
    return clock_.MonotonicNow() - opened_at_ < options_.open_for ? State::kDisabled
                                                                  : State::kDegraded;
  }
  const absl::Time now = clock_.MonotonicNow();
  for (const absl::Time crash : crashes_) {
    if (now - crash < options_.window) return State::kDegraded;
  }
  return State::kReady;
}

}  // namespace spine::plugins
