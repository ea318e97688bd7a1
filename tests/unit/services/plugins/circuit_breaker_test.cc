// The circuit breaker, per plugin and per user, on a FakeClock.
#include "services/plugins/host/circuit_breaker.h"

#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <vector>

#include "libs/rpc/error_info.h"

namespace spine::plugins {
namespace {

using Outcome = CircuitBreaker::Outcome;
using State = CircuitBreaker::State;

using Ticket = CircuitBreaker::Ticket;

// One user's crashes are enough to open the plugin's circuit: the single-user cases below.
CircuitBreaker::Options Options(int users = 1) {
  return {.crashes = 5, .window = absl::Seconds(60), .open_for = absl::Seconds(30), .users = users};
}

// Admits one invocation of `user`; its ticket tells whether it is a half-open trial.
Ticket Admit(CircuitBreaker& breaker, const std::string& user = "u") {
  Ticket ticket;
  REQUIRE(breaker.Admit("p", user, &ticket).ok());
  return ticket;
}

void Crash(CircuitBreaker& breaker, const std::string& user = "u") {
  breaker.Record(Outcome::kCrash, Admit(breaker, user));
}

absl::Status Refusal(CircuitBreaker& breaker, const std::string& user = "u") {
  Ticket ticket;
  return breaker.Admit("p", user, &ticket);
}

std::string Scope(const absl::Status& status) {
  const std::optional<google::rpc::ErrorInfo> info = rpc::GetErrorInfo(status);
  REQUIRE(info.has_value());
  return info->metadata().at("scope");
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
  const Ticket trial = Admit(breaker);
  CHECK(trial.plugin_trial);
  CHECK_FALSE(Refusal(breaker).ok());  // only one at a time
  breaker.Record(Outcome::kCrash, trial);
  CHECK(breaker.state() == State::kDisabled);
  CHECK(RetryAfter(Refusal(breaker)) == "30");

  clock.Advance(absl::Seconds(30));
  const Ticket timed_out = Admit(breaker);
  CHECK(timed_out.plugin_trial);
  breaker.Record(Outcome::kNeither, timed_out);  // a timeout decides nothing: the next may run
  const Ticket next = Admit(breaker);
  CHECK(next.plugin_trial);
  breaker.Record(Outcome::kSuccess, next);
  CHECK(breaker.state() == State::kReady);
  CHECK(breaker.StateFor("u") == State::kReady);
  // Closed again with the crashes forgotten: four more do not reopen it.
  for (int i = 0; i < 4; ++i) Crash(breaker);
  const Ticket still = Admit(breaker);
  CHECK_FALSE(still.plugin_trial);
  breaker.Record(Outcome::kSuccess, still);
}

TEST_CASE("an invocation admitted before the circuit opened does not decide its trial") {
  FakeClock clock;
  CircuitBreaker breaker(Options(), clock);
  const Ticket straggler = Admit(breaker);  // still running while the crashes below happen
  CHECK_FALSE(straggler.plugin_trial);
  for (int i = 0; i < 5; ++i) Crash(breaker);
  clock.Advance(absl::Seconds(30));
  const Ticket trial = Admit(breaker);  // the trial, still running
  CHECK(trial.plugin_trial);
  breaker.Record(Outcome::kSuccess, straggler);  // the straggler ends well...
  CHECK(breaker.state() == State::kDegraded);    // ...which closes nothing
  CHECK_FALSE(Refusal(breaker).ok());            // and the trial is still the only one
  breaker.Record(Outcome::kCrash, trial);
  CHECK(breaker.state() == State::kDisabled);
}

TEST_CASE("one user's crashes disable the plugin for that user only") {
  FakeClock clock;
  CircuitBreaker breaker(Options(/*users=*/3), clock);
  for (int i = 0; i < 5; ++i) Crash(breaker, "mallory");
  const absl::Status refused = Refusal(breaker, "mallory");
  CHECK(refused.code() == absl::StatusCode::kUnavailable);
  CHECK(Scope(refused) == "user");
  CHECK(RetryAfter(refused) == "30");
  CHECK(breaker.StateFor("mallory") == State::kDisabled);
  CHECK(Refusal(breaker, "alice").ok());
  CHECK(breaker.state() == State::kDegraded);  // recent crashes, still open to everyone else
  CHECK(breaker.StateFor("alice") == State::kReady);

  // The user's own trial after the open period closes only the user's circuit.
  clock.Advance(absl::Seconds(30));
  const Ticket trial = Admit(breaker, "mallory");
  CHECK(trial.user_trial);
  CHECK_FALSE(trial.plugin_trial);
  breaker.Record(Outcome::kSuccess, trial);
  CHECK(breaker.StateFor("mallory") == State::kReady);
}

TEST_CASE("crashes from enough different users disable the plugin for everyone") {
  FakeClock clock;
  CircuitBreaker breaker(Options(/*users=*/3), clock);
  Crash(breaker, "a");
  Crash(breaker, "a");
  Crash(breaker, "b");
  Crash(breaker, "b");
  CHECK(breaker.state() == State::kDegraded);
  Crash(breaker, "c");  // five crashes, three users
  CHECK(breaker.state() == State::kDisabled);
  const absl::Status refused = Refusal(breaker, "d");
  CHECK(Scope(refused) == "plugin");
  CHECK(RetryAfter(refused) == "30");
}

TEST_CASE("a user refused by its own circuit does not take the plugin's trial") {
  FakeClock clock;
  CircuitBreaker breaker(Options(/*users=*/1), clock);
  std::vector<Ticket> stragglers;  // b's, admitted before the circuits open
  stragglers.reserve(5);
  for (int i = 0; i < 5; ++i) stragglers.push_back(Admit(breaker, "b"));
  for (int i = 0; i < 5; ++i) Crash(breaker, "a");
  clock.Advance(absl::Seconds(20));
  for (const Ticket& ticket : stragglers) breaker.Record(Outcome::kCrash, ticket);
  CHECK(breaker.StateFor("b") == State::kDisabled);
  clock.Advance(absl::Seconds(10));  // the plugin's circuit is half-open, b's still open
  CHECK(Scope(Refusal(breaker, "b")) == "user");
  const Ticket trial = Admit(breaker, "c");
  CHECK(trial.plugin_trial);
  breaker.Record(Outcome::kSuccess, trial);
  CHECK(breaker.state() == State::kReady);
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
