#include "libs/core/clock.h"

#include <catch2/catch.hpp>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace spine {
namespace {

TEST_CASE("a fake clock starts at the given time") {
  const absl::Time start = absl::FromUnixSeconds(1234567890);
  const FakeClock clock(start);
  CHECK(clock.Now() == start);
  CHECK(clock.MonotonicNow() == start);
}

TEST_CASE("a fake clock starts at a fixed default time") {
  const FakeClock clock;
  CHECK(clock.Now() == absl::FromUnixSeconds(1'700'000'000));
  CHECK(clock.MonotonicNow() == absl::FromUnixSeconds(1'700'000'000));
}

TEST_CASE("a fake clock only moves when told to") {
  const FakeClock clock(absl::FromUnixSeconds(100));
  const absl::Time first = clock.Now();
  const absl::Time second = clock.Now();
  CHECK(first == second);
  CHECK(clock.MonotonicNow() == clock.MonotonicNow());
}

TEST_CASE("advancing a fake clock moves wall and monotonic time together") {
  const absl::Time start = absl::FromUnixSeconds(100);
  FakeClock clock(start);
  clock.Advance(absl::Seconds(5));
  CHECK(clock.Now() == start + absl::Seconds(5));
  CHECK(clock.MonotonicNow() == start + absl::Seconds(5));
  clock.Advance(absl::Milliseconds(250));
  CHECK(clock.Now() == start + absl::Milliseconds(5250));
  CHECK(clock.MonotonicNow() == start + absl::Milliseconds(5250));
  clock.Advance(absl::ZeroDuration());
  CHECK(clock.Now() == start + absl::Milliseconds(5250));
}

TEST_CASE("setting a fake clock moves wall and monotonic time to that instant") {
  FakeClock clock(absl::FromUnixSeconds(100));
  const absl::Time later = absl::FromUnixSeconds(2'000'000'000);
  clock.Set(later);
  CHECK(clock.Now() == later);
  CHECK(clock.MonotonicNow() == later);
  clock.Advance(absl::Minutes(1));
  CHECK(clock.Now() == later + absl::Minutes(1));
  CHECK(clock.MonotonicNow() == later + absl::Minutes(1));
}

TEST_CASE("a fake clock is usable through the Clock interface") {
  FakeClock fake(absl::FromUnixSeconds(10));
  const Clock& clock = fake;
  fake.Advance(absl::Seconds(1));
  CHECK(clock.Now() == absl::FromUnixSeconds(11));
  CHECK(clock.MonotonicNow() == absl::FromUnixSeconds(11));
}

TEST_CASE("the real clock's monotonic time never goes backwards") {
  const RealClock& clock = RealClock::Instance();
  absl::Time previous = clock.MonotonicNow();
  for (int i = 0; i < 10000; ++i) {
    const absl::Time now = clock.MonotonicNow();
    REQUIRE(now >= previous);
    previous = now;
  }
}

TEST_CASE("the real clock's wall time is the system time") {
  const absl::Time before = absl::Now();
  const absl::Time now = RealClock::Instance().Now();
  const absl::Time after = absl::Now();
  CHECK(before <= now);
  CHECK(now <= after);
}

TEST_CASE("the real clock instance is one shared object") {
  CHECK(&RealClock::Instance() == &RealClock::Instance());
}

}  // namespace
}  // namespace spine
