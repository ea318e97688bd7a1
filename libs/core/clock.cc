#include "libs/core/clock.h"

#include <chrono>

namespace spine {

absl::Time RealClock::Now() const { return absl::Now(); }

absl::Time RealClock::MonotonicNow() const {
  const auto since_epoch = std::chrono::steady_clock::now().time_since_epoch();
  return absl::UnixEpoch() + absl::FromChrono(since_epoch);
}

RealClock& RealClock::Instance() {
  static RealClock clock;
  return clock;
}

FakeClock::FakeClock(absl::Time start) : now_(start) {}

absl::Time FakeClock::Now() const {
  absl::MutexLock lock(&mu_);
  return now_;
}

absl::Time FakeClock::MonotonicNow() const { return Now(); }

void FakeClock::Advance(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  now_ += d;
}

void FakeClock::Set(absl::Time t) {
  absl::MutexLock lock(&mu_);
  now_ = t;
}

}  // namespace spine
