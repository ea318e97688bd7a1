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

// Admits one invocation and returns whether it is the half-open trial.
bool Admit(CircuitBreaker& breaker) {
  bool trial = false;
  REQUIRE(breaker.Admit("p", &trial).ok());
  return trial;
}

void Crash(CircuitBreaker& breaker) { breaker.Record(Outcome::kCrash, Admit(breaker)); }

absl::Status Refusal(CircuitBreaker& breaker) {
  bool trial = false;
  return breaker.Admit("p", &trial);
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
  const absl::Status refused = Refusal(breaker);
  CHECK(refused.code() == absl::StatusCode::kUnavailable);
  CHECK(RetryAfter(refused) == "30");
  clock.Advance(absl::Seconds(20));
  CHECK(RetryAfter(Refusal(breaker)) == "10");
}

TEST_CASE("crashes spread wider than the window never open it") {
  FakeClock clock;
  CircuitBreaker breaker(Options(), clock);
  for (int i = 0; i < 20; ++i) {
    Crash(breaker);
    clock.Advance(absl::Seconds(15));  // at most four within any 60 s
  }
  breaker.Record(Outcome::kSuccess, Admit(breaker));
  clock.Advance(absl::Seconds(61));
  CHECK(breaker.state() == State::kReady);
}

TEST_CASE("after the open period one trial runs: success closes, a crash reopens") {
  FakeClock clock;
  CircuitBreaker breaker(Options(), clock);
  for (int i = 0; i < 5; ++i) Crash(breaker);
  clock.Advance(absl::Seconds(30));
  CHECK(breaker.state() == State::kDegraded);  // half-open
  CHECK(Admit(breaker));                       // the trial
  CHECK_FALSE(Refusal(breaker).ok());          // only one at a time
  breaker.Record(Outcome::kCrash, true);
  CHECK(breaker.state() == State::kDisabled);
  CHECK(RetryAfter(Refusal(breaker)) == "30");

  clock.Advance(absl::Seconds(30));
  CHECK(Admit(breaker));
  breaker.Record(Outcome::kNeither, true);  // a timeout decides nothing: the next trial may run
  CHECK(Admit(breaker));
  breaker.Record(Outcome::kSuccess, true);
  CHECK(breaker.state() == State::kReady);
  // Closed again with the crashes forgotten: four more do not reopen it.
  for (int i = 0; i < 4; ++i) Crash(breaker);
  CHECK_FALSE(Admit(breaker));
  breaker.Record(Outcome::kSuccess, false);
}

TEST_CASE("an invocation admitted before the circuit opened does not decide its trial") {
  FakeClock clock;
  CircuitBreaker breaker(Options(), clock);
  const bool straggler = Admit(breaker);  // still running while the crashes below happen
  CHECK_FALSE(straggler);
  for (int i = 0; i < 5; ++i) Crash(breaker);
  clock.Advance(absl::Seconds(30));
  CHECK(Admit(breaker));                         // the trial, still running
  breaker.Record(Outcome::kSuccess, straggler);  // the straggler ends well...
  CHECK(breaker.state() == State::kDegraded);    // ...which closes nothing
  CHECK_FALSE(Refusal(breaker).ok());            // and the trial is still the only one
  breaker.Record(Outcome::kCrash, true);
  CHECK(breaker.state() == State::kDisabled);
}

TEST_CASE("successes and plugin errors do not count as crashes") {
  FakeClock clock;
  CircuitBreaker breaker(Options(), clock);
  for (int i = 0; i < 100; ++i) {
    breaker.Record(i % 2 == 0 ? Outcome::kSuccess : Outcome::kNeither, Admit(breaker));
  }
  CHECK(breaker.state() == State::kReady);
}

}  // namespace spine::plugins
