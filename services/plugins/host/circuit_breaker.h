// CircuitBreaker: stops sending invocations to a plugin that keeps crashing (issue 6, "Circuit
// breaker per plugin").
//
// Closed: everything is admitted; each crash is remembered for `window`. When `crashes` crashes
// fall within one window the circuit opens: for `open_for` nothing is admitted (UNAVAILABLE,
// reason PLUGIN_DISABLED, with the seconds left in ErrorInfo metadata "retryAfterSeconds").
// Then it is half-open: one trial invocation at a time is admitted; a success closes the
// circuit (crashes forgotten), a crash opens it again for another `open_for`, and any other
// outcome (timeout, cancel) lets the next trial through.
//
// Time comes from Clock::MonotonicNow(). Thread-safe.
#pragma once

#include <deque>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
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
  };
  // READY: no crash within the window; DEGRADED: some, or half-open; DISABLED: open.
  enum class State { kReady, kDegraded, kDisabled };
  // How an admitted invocation ended.
  enum class Outcome { kSuccess, kCrash, kNeither };

  CircuitBreaker(Options options, const Clock& clock) : options_(options), clock_(clock) {}

  // OK when an invocation may run now (every OK must be followed by one Record, passing on
  // `*trial`: whether this invocation is the half-open circuit's trial); otherwise UNAVAILABLE
  // with reason PLUGIN_DISABLED naming `plugin`.
  absl::Status Admit(absl::string_view plugin, bool* trial);
  void Record(Outcome outcome, bool trial);
  State state() const;

 private:
  void Prune(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  const Clock& clock_;
  mutable absl::Mutex mu_;
  std::deque<absl::Time> crashes_ ABSL_GUARDED_BY(mu_);
  bool open_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time opened_at_ ABSL_GUARDED_BY(mu_);
  bool trial_in_flight_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace spine::plugins
