// The per-plugin circuit breaker on a FakeClock.
#include "services/plugins/host/circuit_breaker.h"

#include <catch2/catch.hpp>
#include <optional>
#include <string>

#include "libs/rpc/error_info.h"

namespace spine::plugins {
namespace {

using Outcome = CircuitBreaker::Outcome;
using State = CircuitBreaker::State;

CircuitBreaker::Options Options() {
  return {.crashes = 5, .window = absl::Seconds(60), .open_for = absl::Seconds(30)};
}

void Crash(CircuitBreaker& breaker) {
  REQUIRE(breaker.Admit("p").ok());
  breaker.Record(Outcome::kCrash);
}

std::string RetryAfter(const absl::Status& status) {
  const std::optional<google::rpc::ErrorInfo> info = rpc::GetErrorInfo(status);
  REQUIRE(info.has_value());
  CHECK(info->reason() == "PLUGIN_DISABLED");
  return info->metadata().at("retryAfterSeconds");
}

}  // namespace

TEST_CASE("five crashes within a minute open the circuit with a retry hint") {
  FakeClock clock;
  CircuitBreaker breaker(Options(), clock);
  CHECK(breaker.state() == State::kReady);
  for (int i = 0; i < 4; ++i) {
    Crash(breaker);
    clock.Advance(absl::Seconds(10));
  }
  CHECK(breaker.state() == State::kDegraded);
  Crash(breaker);
  CHECK(breaker.state() == State::kDisabled);
  const absl::Status refused = breaker.Admit("p");
  CHECK(refused.code() == absl::StatusCode::kUnavailable);
  CHECK(RetryAfter(refused) == "30");
  clock.Advance(absl::Seconds(20));
  CHECK(RetryAfter(breaker.Admit("p")) == "10");
}

TEST_CASE("crashes spread wider than the window never open it") {
  FakeClock clock;
  CircuitBreaker breaker(Options(), clock);
  for (int i = 0; i < 20; ++i) {
    Crash(breaker);
    clock.Advance(absl::Seconds(15));  // at most four within any 60 s
  }
  CHECK(breaker.Admit("p").ok());
  breaker.Record(Outcome::kSuccess);
  clock.Advance(absl::Seconds(61));
  CHECK(breaker.state() == State::kReady);
}

TEST_CASE("after the open period one trial runs: success closes, a crash reopens") {
  FakeClock clock;
  CircuitBreaker breaker(Options(), clock);
  for (int i = 0; i < 5; ++i) Crash(breaker);
  clock.Advance(absl::Seconds(30));
  CHECK(breaker.state() == State::kDegraded);  // half-open
  REQUIRE(breaker.Admit("p").ok());            // the trial
  CHECK_FALSE(breaker.Admit("p").ok());        // only one at a time
  breaker.Record(Outcome::kCrash);
  CHECK(breaker.state() == State::kDisabled);
  CHECK(RetryAfter(breaker.Admit("p")) == "30");

  clock.Advance(absl::Seconds(30));
  REQUIRE(breaker.Admit("p").ok());
  breaker.Record(Outcome::kNeither);  // a timeout decides nothing: the next trial may run
  REQUIRE(breaker.Admit("p").ok());
  breaker.Record(Outcome::kSuccess);
  CHECK(breaker.state() == State::kReady);
  // Closed again with the crashes forgotten: four more do not reopen it.
  for (int i = 0; i < 4; ++i) Crash(breaker);
  CHECK(breaker.Admit("p").ok());
  breaker.Record(Outcome::kSuccess);
}

TEST_CASE("successes and plugin errors do not count as crashes") {
  FakeClock clock;
  CircuitBreaker breaker(Options(), clock);
  for (int i = 0; i < 100; ++i) {
    REQUIRE(breaker.Admit("p").ok());
    breaker.Record(i % 2 == 0 ? Outcome::kSuccess : Outcome::kNeither);
  }
  CHECK(breaker.state() == State::kReady);
}

}  // namespace spine::plugins
