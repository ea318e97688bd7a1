// CircuitBreaker: stops sending invocations to a plugin that keeps crashing (issue 6, "Circuit
// breaker per plugin"), without letting one user's inputs decide for everyone.
//
// There is one circuit per user and one for the whole plugin, run by the same rules:
// Closed: everything is admitted; each crash is remembered for `window`. A user's circuit opens
// when `crashes` of that user's invocations crashed within one window; the plugin's circuit opens
// when `crashes` crashes within one window came from at least `users` different users. An open
// circuit admits nothing for `open_for` (UNAVAILABLE, reason PLUGIN_DISABLED, ErrorInfo metadata
// "retryAfterSeconds" and "scope": "plugin" or "user"). Then it is half-open: one trial
// invocation at a time is admitted; a success closes the circuit (crashes forgotten), a crash
// opens it again for another `open_for`, and any other outcome (timeout, cancel) lets the next
// trial through.
//
// Why two levels: a user who found an input that crashes the plugin could otherwise disable it
// for everyone with five requests; now only that user is refused. A plugin that crashes for
// everyone is still disabled for everyone once several users saw it crash.
//
// Memory: a user's circuit is kept only while it is open or has crashes within the window.
// Time comes from Clock::MonotonicNow(). Thread-safe.
#pragma once

#include <deque>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/core/clock.h"

namespace spine::plugins {

class CircuitBreaker {
 public:
  struct Options {
    int crashes = 5;
    absl::Duration window = absl::Seconds(60);
    absl::Duration open_for = absl::Seconds(30);
    int users = 3;  // different users whose crashes it takes to open the plugin's circuit
  };
  // READY: no crash within the window; DEGRADED: some, or half-open; DISABLED: open.
  enum class State { kReady, kDegraded, kDisabled };
  // How an admitted invocation ended.
  enum class Outcome { kSuccess, kCrash, kNeither };
  // What Admit decided for one invocation, handed back to Record.
  struct Ticket {
    std::string user{};
    bool plugin_trial = false;  // the half-open plugin circuit's trial
    bool user_trial = false;    // the half-open user circuit's trial
  };

  CircuitBreaker(Options options, const Clock& clock) : options_(options), clock_(clock) {}

  // OK when `user`'s invocation may run now (every OK must be followed by one Record with the
  // same `*ticket`); otherwise UNAVAILABLE with reason PLUGIN_DISABLED naming `plugin`.
  absl::Status Admit(absl::string_view plugin, absl::string_view user, Ticket* ticket);
  void Record(Outcome outcome, const Ticket& ticket);
  // The plugin's circuit.
  State state() const;
  // `user`'s own circuit.
  State StateFor(absl::string_view user) const;

 private:
  struct Circuit {
    std::deque<std::pair<absl::Time, std::string>> crashes{};  // when, and whose
    bool open = false;
    absl::Time opened_at{};
    bool trial_in_flight = false;
  };
  // Admits into `circuit`: OK (and `*trial` when it is the half-open trial) or the seconds left.
  bool AdmitTo(Circuit& circuit, absl::Time now, bool* trial, int64_t* retry_after) const;
  void RecordIn(Circuit& circuit, Outcome outcome, bool trial, const std::string& user,
                int users_to_open, absl::Time now) const;
  void Prune(Circuit& circuit, absl::Time now) const;
  State StateOf(const Circuit& circuit, absl::Time now) const;

  const Options options_;
  const Clock& clock_;
  mutable absl::Mutex mu_;
  Circuit plugin_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Circuit> users_ ABSL_GUARDED_BY(mu_);
};

}  // namespace spine::plugins
