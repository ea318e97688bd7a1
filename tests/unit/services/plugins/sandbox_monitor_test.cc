// SandboxMonitor on a FakeClock with a scripted self-test.
#include "services/plugins/host/sandbox_monitor.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

namespace spine::plugins {

TEST_CASE("pluginSandboxAlive needs a passing self-test within the last 30 seconds") {
  FakeClock clock;
  absl::Status next = absl::OkStatus();
  std::vector<bool> told;
  SandboxMonitor monitor([&](std::string*) { return next; },
                         [&](bool passed) { told.push_back(passed); }, clock);
  CHECK_FALSE(monitor.Alive());  // nothing has run yet
  CHECK(monitor.RunOnce().ok());
  CHECK(monitor.Alive());
  clock.Advance(absl::Seconds(30));
  CHECK(monitor.Alive());
  clock.Advance(absl::Seconds(1));
  CHECK_FALSE(monitor.Alive());  // a monitor that stopped running reads as dead

  CHECK(monitor.RunOnce().ok());
  CHECK(monitor.Alive());
  next = absl::FailedPreconditionError("sandbox self-test: canary read /etc/passwd");
  CHECK_FALSE(monitor.RunOnce().ok());
  CHECK_FALSE(monitor.Alive());  // a failure counts at once, however recent the last pass
  next = absl::OkStatus();
  CHECK(monitor.RunOnce().ok());
  CHECK(monitor.Alive());
  CHECK(told == std::vector<bool>{true, true, false, true});
}

TEST_CASE("the monitor reports the layers of a passing self-test, or why it failed") {
  FakeClock clock;
  absl::Status next = absl::OkStatus();
  SandboxMonitor monitor(
      [&](std::string* layers) {
        *layers = "landlock ABI 6; seccomp; namespaces: user,pid,ipc,mnt,net";
        return next;
      },
      nullptr, clock);
  CHECK(monitor.Report().empty());  // nothing has run yet
  CHECK(monitor.RunOnce().ok());
  CHECK(monitor.Report() == "landlock ABI 6; seccomp; namespaces: user,pid,ipc,mnt,net");
  next = absl::FailedPreconditionError("sandbox self-test: the canary ran without namespaces");
  CHECK_FALSE(monitor.RunOnce().ok());
  CHECK(monitor.Report() == "sandbox self-test: the canary ran without namespaces");
}

TEST_CASE("the monitor's thread stops promptly") {
  FakeClock clock;
  SandboxMonitor monitor([](std::string*) { return absl::OkStatus(); }, nullptr, clock,
                         absl::Hours(1));
  monitor.Start();
  monitor.Stop();  // must not wait out the hour
  CHECK_FALSE(monitor.Alive());
}

}  // namespace spine::plugins
