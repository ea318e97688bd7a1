// UserLimits on a FakeClock: the concurrent bound, the per-minute bucket and its refill, the
// retry hints, independence between users, and the bound on remembered users.
#include "services/llm/user_limits.h"

#include <catch2/catch.hpp>
#include <string>

#include "libs/rpc/error_info.h"

namespace spine::llm {
namespace {

std::string Reason(const absl::Status& status) {
  auto info = rpc::GetErrorInfo(status);
  return info ? info->reason() : "";
}

std::string RetryAfter(const absl::Status& status) {
  auto info = rpc::GetErrorInfo(status);
  if (!info) return "";
  auto it = info->metadata().find("retryAfterSeconds");
  return it == info->metadata().end() ? "" : it->second;
}

TEST_CASE("a user may hold max_concurrent generations at once, and another after a release") {
  FakeClock clock;
  UserLimits limits({.max_concurrent = 2, .requests_per_minute = 100}, clock);
  REQUIRE(limits.Acquire("a").ok());
  REQUIRE(limits.Acquire("a").ok());
  const absl::Status third = limits.Acquire("a");
  CHECK(third.code() == absl::StatusCode::kResourceExhausted);
  CHECK(Reason(third) == "USER_CONCURRENCY_LIMIT");
  CHECK(RetryAfter(third) == "1");
  // Another user is not affected.
  CHECK(limits.Acquire("b").ok());
  limits.Release("a");
  CHECK(limits.Acquire("a").ok());
}

TEST_CASE("a refused request takes nothing from the bucket") {
  FakeClock clock;
  UserLimits limits({.max_concurrent = 1, .requests_per_minute = 2}, clock);
  REQUIRE(limits.Acquire("a").ok());
  CHECK(Reason(limits.Acquire("a")) == "USER_CONCURRENCY_LIMIT");
  limits.Release("a");
  // One request left of two: the refusal above did not spend one.
  CHECK(limits.Acquire("a").ok());
  limits.Release("a");
  CHECK(Reason(limits.Acquire("a")) == "USER_RATE_LIMIT");
}

TEST_CASE("requests_per_minute is a bucket that refills smoothly, with a retry hint") {
  FakeClock clock;
  UserLimits limits({.max_concurrent = 100, .requests_per_minute = 60}, clock);
  for (int i = 0; i < 60; ++i) {
    REQUIRE(limits.Acquire("a").ok());
    limits.Release("a");
  }
  const absl::Status over = limits.Acquire("a");
  CHECK(over.code() == absl::StatusCode::kResourceExhausted);
  CHECK(Reason(over) == "USER_RATE_LIMIT");
  CHECK(RetryAfter(over) == "1");  // one request a second refills
  clock.Advance(absl::Milliseconds(999));
  CHECK(Reason(limits.Acquire("a")) == "USER_RATE_LIMIT");
  clock.Advance(absl::Milliseconds(2));
  CHECK(limits.Acquire("a").ok());
  limits.Release("a");
  // A long pause refills to the burst, not beyond it.
  clock.Advance(absl::Hours(1));
  for (int i = 0; i < 60; ++i) {
    REQUIRE(limits.Acquire("a").ok());
    limits.Release("a");
  }
  CHECK(Reason(limits.Acquire("a")) == "USER_RATE_LIMIT");
}

TEST_CASE("the retry hint covers the time until the next request refills") {
  FakeClock clock;
  UserLimits limits({.max_concurrent = 100, .requests_per_minute = 6}, clock);
  for (int i = 0; i < 6; ++i) {
    REQUIRE(limits.Acquire("a").ok());
    limits.Release("a");
  }
  CHECK(RetryAfter(limits.Acquire("a")) == "10");
  clock.Advance(absl::Seconds(4));
  CHECK(RetryAfter(limits.Acquire("a")) == "6");
}

TEST_CASE("memory is bounded: idle users are forgotten, busy ones kept") {
  FakeClock clock;
  UserLimits limits({.max_concurrent = 1, .requests_per_minute = 10, .max_tracked_users = 100},
                    clock);
  // Ten users stay busy throughout.
  for (int i = 0; i < 10; ++i) REQUIRE(limits.Acquire("busy" + std::to_string(i)).ok());
  for (int i = 0; i < 10000; ++i) {
    const std::string user = "u" + std::to_string(i);
    REQUIRE(limits.Acquire(user).ok());
    limits.Release(user);
    CHECK(limits.tracked_users() <= 101);
  }
  // The busy users were never forgotten: they still hold their one slot each.
  for (int i = 0; i < 10; ++i) {
    CHECK(Reason(limits.Acquire("busy" + std::to_string(i))) == "USER_CONCURRENCY_LIMIT");
  }
}

TEST_CASE("releasing more than was acquired is harmless") {
  FakeClock clock;
  UserLimits limits({.max_concurrent = 1, .requests_per_minute = 10}, clock);
  limits.Release("nobody");
  REQUIRE(limits.Acquire("a").ok());
  limits.Release("a");
  limits.Release("a");
  REQUIRE(limits.Acquire("a").ok());
  CHECK(Reason(limits.Acquire("a")) == "USER_CONCURRENCY_LIMIT");
}

}  // namespace
}  // namespace spine::llm
