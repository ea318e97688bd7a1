// Clock: the one way Spine logic reads time, so tests can drive it exactly.
//
// Logic takes a `Clock&`; main.cc passes RealClock, tests pass FakeClock. Both are thread-safe.
#pragma once

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace spine {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time (for timestamps, JWT iat/exp).
  virtual absl::Time Now() const = 0;
  // Never goes backwards (for deadlines, rate limits, backoff).
  virtual absl::Time MonotonicNow() const = 0;
};

// The process clock: absl::Now() and a steady clock anchored at construction.
class RealClock final : public Clock {
 public:
  absl::Time Now() const override;
  absl::Time MonotonicNow() const override;
  // A process-wide instance for main.cc to hand out; holds no state that tests could observe.
  static RealClock& Instance();
};

// A clock that only moves when told to. Now() and MonotonicNow() advance together.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'700'000'000));
  absl::Time Now() const override;
  absl::Time MonotonicNow() const override;
  void Advance(absl::Duration d);
  void Set(absl::Time t);

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace spine
