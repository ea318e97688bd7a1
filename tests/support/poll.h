// Polling for tests: wait for what another thread or process makes true, rather than sleeping a
// fixed time. Every wait is bounded, so a broken behaviour fails its test instead of hanging it;
// bounds are generous, because a slow CI machine must never fail a correct test.
#pragma once

#include <functional>
#include <type_traits>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace spine::testing {

inline constexpr absl::Duration kPollTimeout = absl::Seconds(10);

// The pause between polls that go through the gateway's HTTP edge: each request spends a token
// of the per-client rate limit (100 a minute by default), so a fast poll would end in 429s.
inline constexpr absl::Duration kGatewayPollInterval = absl::Milliseconds(100);

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

// As PollUntil, for a value: calls `produce` every `interval` until `accept` holds for what it
// returned or `timeout` has passed, and returns the last value either way, so the test checks
// (and a failure shows) what was really seen.
template <typename Produce, typename Accept>
std::invoke_result_t<Produce&> PollFor(Produce produce, Accept accept,
                                       absl::Duration timeout = kPollTimeout,
                                       absl::Duration interval = absl::Milliseconds(5)) {
  const absl::Time give_up = absl::Now() + timeout;
  std::invoke_result_t<Produce&> value = produce();
  while (!accept(value) && absl::Now() < give_up) {
    absl::SleepFor(interval);
    value = produce();
  }
  return value;
}

}  // namespace spine::testing
