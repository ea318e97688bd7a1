// Polling for tests: wait for what another thread or process makes true, rather than sleeping a
// fixed time. Every wait is bounded, so a broken behaviour fails its test instead of hanging it;
// bounds are generous, because a slow CI machine must never fail a correct test.
#pragma once

#include <functional>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace spine::testing {

inline constexpr absl::Duration kPollTimeout = absl::Seconds(10);

// Polls `condition` every `interval` until it holds (true) or `timeout` has passed (false; the
// condition is looked at once more at the end, so a wait that overran by a hair still counts).
inline bool PollUntil(const std::function<bool()>& condition, absl::Duration timeout = kPollTimeout,
                      absl::Duration interval = absl::Milliseconds(5)) {
  const absl::Time give_up = absl::Now() + timeout;
  while (absl::Now() < give_up) {
    if (condition()) return true;
    absl::SleepFor(interval);
  }
  return condition();
}

}  // namespace spine::testing
