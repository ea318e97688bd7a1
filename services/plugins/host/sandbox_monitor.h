// SandboxMonitor: runs the sandbox self-test at start and then every `interval`, tells the host
// whether plugins may run, and answers the status probe's pluginSandboxAlive (true only if the
// last self-test passed within `fresh_for`, 30 s by default: a stuck monitor reads as dead) and
// pluginSandbox (the layers the canary ran under, or why the self-test failed).
//
// Thread-safe. RunOnce may be called directly (tests); Start runs it on a thread of its own
// until Stop or destruction.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/core/clock.h"

namespace spine::plugins {

class SandboxMonitor {
 public:
  // Fills `layers` (when the canary started) with the layers it ran under.
  using SelfTest = std::function<absl::Status(std::string* layers)>;
  // `on_result(passed)` follows every self-test (the host's SetSandboxAvailable).
  SandboxMonitor(SelfTest self_test, std::function<void(bool)> on_result, const Clock& clock,
                 absl::Duration interval = absl::Seconds(10),
                 absl::Duration fresh_for = absl::Seconds(30));
  SandboxMonitor(const SandboxMonitor&) = delete;
  SandboxMonitor& operator=(const SandboxMonitor&) = delete;
  ~SandboxMonitor() { Stop(); }

  // Runs the self-test now; returns its result.
  absl::Status RunOnce();
  void Start();
  void Stop();
  // The last self-test passed, within `fresh_for`.
  bool Alive() const;
  // The last self-test's layers when it passed, else its error; empty before the first.
  std::string Report() const;

 private:
  const SelfTest self_test_;
  const std::function<void(bool)> on_result_;
  const Clock& clock_;
  const absl::Duration interval_;
  const absl::Duration fresh_for_;
  mutable absl::Mutex mu_;
  std::optional<absl::Time> last_pass_ ABSL_GUARDED_BY(mu_);
  bool last_ok_ ABSL_GUARDED_BY(mu_) = false;
  std::string last_report_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace spine::plugins
