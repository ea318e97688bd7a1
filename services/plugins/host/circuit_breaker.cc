#include "services/plugins/host/circuit_breaker.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "libs/rpc/error_info.h"

namespace spine::plugins {
namespace {

// Crashes remembered per circuit beyond what the window prunes: enough to count `users`
// different users among, while a flood of crashes cannot grow memory.
constexpr size_t kMostCrashesRemembered = 1024;

absl::Status Disabled(absl::string_view plugin, absl::string_view scope, int64_t retry_after) {
  const std::string why = scope == "user" ? "for this user after its invocations crashed it "
                                            "repeatedly"
                                          : "after repeated crashes";
  return rpc::WithErrorInfo(
      absl::UnavailableError(absl::StrCat("plugin '", plugin, "' is disabled ", why, "; retry in ",
                                          retry_after, " s")),
      "PLUGIN_DISABLED",
      {{"plugin", std::string(plugin)},
       {"scope", std::string(scope)},
       {"retryAfterSeconds", absl::StrCat(retry_after)}});
}

}  // namespace

void CircuitBreaker::Prune(Circuit& circuit, absl::Time now) const {
  while (!circuit.crashes.empty() && (now - circuit.crashes.front().first >= options_.window ||
                                      circuit.crashes.size() > kMostCrashesRemembered)) {
    circuit.crashes.pop_front();
  }
}

bool CircuitBreaker::AdmitTo(Circuit& circuit, absl::Time now, bool* trial,
                             int64_t* retry_after) const {
  *trial = false;
  if (!circuit.open) return true;
  const absl::Duration left = circuit.opened_at + options_.open_for - now;
  if (left <= absl::ZeroDuration() && !circuit.trial_in_flight) {
    circuit.trial_in_flight = true;  // half-open: this one decides
    *trial = true;
    return true;
  }
  *retry_after = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(absl::ToDoubleSeconds(left))));
  return false;
}

absl::Status CircuitBreaker::Admit(absl::string_view plugin, absl::string_view user,
                                   Ticket* ticket) {
  absl::MutexLock lock(&mu_);
  *ticket = Ticket{.user = std::string(user)};
  const absl::Time now = clock_.MonotonicNow();
  int64_t retry_after = 0;
  if (!AdmitTo(plugin_, now, &ticket->plugin_trial, &retry_after)) {
    return Disabled(plugin, "plugin", retry_after);
  }
  auto found = users_.find(user);
  if (found != users_.end() && !AdmitTo(found->second, now, &ticket->user_trial, &retry_after)) {
    // Refused after all: the plugin's trial slot goes to someone else.
    if (ticket->plugin_trial) plugin_.trial_in_flight = false;
    ticket->plugin_trial = false;
    return Disabled(plugin, "user", retry_after);
  }
  return absl::OkStatus();
}

void CircuitBreaker::RecordIn(Circuit& circuit, Outcome outcome, bool trial,
                              const std::string& user, int users_to_open, absl::Time now) const {
  // Only the trial's own outcome decides; one admitted before the circuit opened does not.
  trial = trial && circuit.open && circuit.trial_in_flight;
  if (trial) circuit.trial_in_flight = false;
  switch (outcome) {
    case Outcome::kSuccess:
      if (trial) {
        circuit.open = false;
        circuit.crashes.clear();
      }
      return;
    case Outcome::kNeither:
      return;
    case Outcome::kCrash: {
      if (circuit.open) {
        // A failed trial, or a straggler admitted before the circuit opened.
        if (trial) circuit.opened_at = now;
        return;
      }
      circuit.crashes.emplace_back(now, user);
      Prune(circuit, now);
      if (static_cast<int>(circuit.crashes.size()) < options_.crashes) return;
      absl::flat_hash_set<absl::string_view> users;
      for (const auto& [when, whose] : circuit.crashes) users.insert(whose);
      if (static_cast<int>(users.size()) >= users_to_open) {
        circuit.open = true;
        circuit.opened_at = now;
      }
      return;
    }
  }
}

void CircuitBreaker::Record(Outcome outcome, const Ticket& ticket) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_.MonotonicNow();
  RecordIn(plugin_, outcome, ticket.plugin_trial, ticket.user, options_.users, now);
  auto found = users_.find(ticket.user);
  if (found == users_.end()) {
    if (outcome != Outcome::kCrash) return;
    found = users_.emplace(ticket.user, Circuit{}).first;
  }
  RecordIn(found->second, outcome, ticket.user_trial, ticket.user, 1, now);
  if (outcome != Outcome::kCrash) {
    if (!found->second.open && found->second.crashes.empty()) users_.erase(found);
    return;
  }
  // Forget the users whose circuits hold nothing any more (a crash is rare enough, each one
  // costing a worker, for this sweep to be cheap).
  std::vector<std::string> forget;
  for (auto& [name, circuit] : users_) {
    Prune(circuit, now);
    if (!circuit.open && circuit.crashes.empty()) forget.push_back(name);
  }
  for (const std::string& name : forget) users_.erase(name);
}

CircuitBreaker::State CircuitBreaker::StateOf(const Circuit& circuit, absl::Time now) const {
  if (circuit.open) {
    return now - circuit.opened_at < options_.open_for ? State::kDisabled : State::kDegraded;
  }
  for (const auto& [when, whose] : circuit.crashes) {
    if (now - when < options_.window) return State::kDegraded;
  }
  return State::kReady;
}

CircuitBreaker::State CircuitBreaker::state() const {
  absl::MutexLock lock(&mu_);
  return StateOf(plugin_, clock_.MonotonicNow());
}

CircuitBreaker::State CircuitBreaker::StateFor(absl::string_view user) const {
  absl::MutexLock lock(&mu_);
  auto found = users_.find(user);
  return found == users_.end() ? State::kReady : StateOf(found->second, clock_.MonotonicNow());
}

}  // namespace spine::plugins
