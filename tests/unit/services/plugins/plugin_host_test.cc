// PluginHost's queue, fairness, cancel, deadlines, circuit breaker and idle recycling, with fake
// workers (fake_worker.h) on a FakeClock: no node, no sandbox.
#include "services/plugins/host/plugin_host.h"

#include <catch2/catch.hpp>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/notification.h"
#include "libs/rpc/error_info.h"
#include "tests/unit/services/plugins/fake_worker.h"

namespace spine::plugins {
namespace {

using testing::FakeWorkers;

LoadedPlugin FakePlugin(int concurrency) {
  LoadedPlugin plugin;
  plugin.manifest.set_name("fake");
  plugin.limits.concurrency = concurrency;
  return plugin;
}

std::unique_ptr<PluginHost> MakeHost(FakeWorkers& workers, const Clock& clock, HostOptions options,
                                     int concurrency = 1) {
  std::vector<LoadedPlugin> plugins;
  plugins.push_back(FakePlugin(concurrency));
  absl::StatusOr<std::unique_ptr<PluginHost>> host =
      PluginHost::Create(std::move(plugins), std::move(options), clock, workers.Factory());
  REQUIRE(host.ok());
  return *std::move(host);
}

// An invocation whose result can be awaited.
struct Pending {
  absl::Notification done;
  InvokeResult result;
};

absl::StatusOr<InvocationHandle> Submit(PluginHost& host, const Clock& clock,
                                        const std::string& user, const std::string& input,
                                        Pending& pending,
                                        absl::Duration timeout = absl::Seconds(30)) {
  return host.Submit(Invocation{.plugin = "fake",
                                .user_id = user,
                                .input_json = "\"" + input + "\"",
                                .deadline = clock.Now() + timeout,
                                .on_done = [&pending](InvokeResult result, InvocationStats) {
                                  pending.result = std::move(result);
                                  pending.done.Notify();
                                }});
}

std::string Reason(const absl::Status& status) {
  const std::optional<google::rpc::ErrorInfo> info = rpc::GetErrorInfo(status);
  return info ? info->reason() : "";
}

std::string Scope(const absl::Status& status) {
  const std::optional<google::rpc::ErrorInfo> info = rpc::GetErrorInfo(status);
  if (!info || info->metadata().count("scope") == 0) return "";
  return info->metadata().at("scope");
}

bool Finished(Pending& pending) {
  return pending.done.WaitForNotificationWithTimeout(absl::Seconds(10));
}

}  // namespace

TEST_CASE("one user flooding the queue gets QUEUE_FULL at its share, and another user goes first") {
  FakeClock clock;
  FakeWorkers workers(clock);
  HostOptions options;
  options.queue_limit = 8;
  options.user_queue_limit = 3;
  auto host = MakeHost(workers, clock, options);

  Pending running;
  REQUIRE(Submit(*host, clock, "a", "hold", running).ok());
  REQUIRE(workers.WaitForHeld(1, absl::Seconds(10)));
  std::vector<std::unique_ptr<Pending>> backlog;
  for (int i = 1; i <= 3; ++i) {
    backlog.push_back(std::make_unique<Pending>());
    REQUIRE(Submit(*host, clock, "a", "a" + std::to_string(i), *backlog.back()).ok());
  }
  Pending refused;
  const absl::StatusOr<InvocationHandle> over = Submit(*host, clock, "a", "a4", refused);
  CHECK(over.status().code() == absl::StatusCode::kResourceExhausted);
  CHECK(Reason(over.status()) == "QUEUE_FULL");
  CHECK(host->Stats()[0].queued == 3);

  Pending other;
  REQUIRE(Submit(*host, clock, "b", "b1", other).ok());
  workers.Release(1);
  REQUIRE(Finished(running));
  REQUIRE(Finished(other));
  for (auto& pending : backlog) REQUIRE(Finished(*pending));
  CHECK(workers.received() ==
        std::vector<std::string>{"\"hold\"", "\"b1\"", "\"a1\"", "\"a2\"", "\"a3\""});
}

TEST_CASE("users are served round-robin, least recently served first") {
  FakeClock clock;
  FakeWorkers workers(clock);
  auto host = MakeHost(workers, clock, HostOptions{});
  Pending running;
  REQUIRE(Submit(*host, clock, "a", "hold", running).ok());
  REQUIRE(workers.WaitForHeld(1, absl::Seconds(10)));
  std::vector<std::unique_ptr<Pending>> queued;
  for (const char* name : {"a1", "a2", "a3", "b1", "b2", "c1"}) {
    queued.push_back(std::make_unique<Pending>());
    REQUIRE(Submit(*host, clock, std::string(1, name[0]), name, *queued.back()).ok());
  }
  workers.Release(1);
  for (auto& pending : queued) REQUIRE(Finished(*pending));
  // b and c never served go first, in the order they queued; a was served last of all.
  CHECK(workers.received() == std::vector<std::string>{"\"hold\"", "\"b1\"", "\"c1\"", "\"a1\"",
                                                       "\"b2\"", "\"a2\"", "\"a3\""});
}

TEST_CASE("the plugin-wide queue limit still holds across users") {
  FakeClock clock;
  FakeWorkers workers(clock);
  HostOptions options;
  options.queue_limit = 2;
  options.user_queue_limit = 2;
  auto host = MakeHost(workers, clock, options);
  Pending running;
  REQUIRE(Submit(*host, clock, "a", "hold", running).ok());
  REQUIRE(workers.WaitForHeld(1, absl::Seconds(10)));
  Pending first;
  Pending second;
  Pending third;
  REQUIRE(Submit(*host, clock, "a", "a1", first).ok());
  REQUIRE(Submit(*host, clock, "b", "b1", second).ok());
  const absl::StatusOr<InvocationHandle> over = Submit(*host, clock, "c", "c1", third);
  CHECK(Reason(over.status()) == "QUEUE_FULL");
  workers.Release(1);
  REQUIRE(Finished(first));
  REQUIRE(Finished(second));
}

TEST_CASE("a cancelled queued invocation leaves its user's queue at once") {
  FakeClock clock;
  FakeWorkers workers(clock);
  auto host = MakeHost(workers, clock, HostOptions{});
  Pending running;
  REQUIRE(Submit(*host, clock, "a", "hold", running).ok());
  REQUIRE(workers.WaitForHeld(1, absl::Seconds(10)));
  Pending queued;
  absl::StatusOr<InvocationHandle> handle = Submit(*host, clock, "b", "b1", queued);
  REQUIRE(handle.ok());
  handle->Cancel();
  REQUIRE(Finished(queued));
  CHECK(queued.result.output.status().code() == absl::StatusCode::kCancelled);
  CHECK(host->Stats()[0].queued == 0);
  workers.Release(1);
  REQUIRE(Finished(running));
  CHECK(workers.received() == std::vector<std::string>{"\"hold\""});
}

TEST_CASE("a running invocation is cancelled through its worker") {
  FakeClock clock;
  FakeWorkers workers(clock);
  auto host = MakeHost(workers, clock, HostOptions{});
  Pending running;
  absl::StatusOr<InvocationHandle> handle = Submit(*host, clock, "a", "hold", running);
  REQUIRE(handle.ok());
  REQUIRE(workers.WaitForHeld(1, absl::Seconds(10)));
  handle->Cancel();
  REQUIRE(Finished(running));
  CHECK(running.result.output.status().code() == absl::StatusCode::kCancelled);
}

TEST_CASE("a deadline that passes on the injected clock while queued never reaches a worker") {
  FakeClock clock;
  FakeWorkers workers(clock);
  auto host = MakeHost(workers, clock, HostOptions{});
  Pending running;
  REQUIRE(Submit(*host, clock, "a", "hold", running, absl::Hours(1)).ok());
  REQUIRE(workers.WaitForHeld(1, absl::Seconds(10)));
  Pending late;
  REQUIRE(Submit(*host, clock, "b", "b1", late, absl::Seconds(1)).ok());
  clock.Advance(absl::Seconds(2));
  workers.Release(1);
  REQUIRE(Finished(late));
  CHECK(late.result.output.status().code() == absl::StatusCode::kDeadlineExceeded);
  CHECK(workers.received() == std::vector<std::string>{"\"hold\""});
}

TEST_CASE("one user's crashes open that user's circuit; several users' open the plugin's") {
  FakeClock clock;
  FakeWorkers workers(clock);
  HostOptions options;
  options.breaker = {
      .crashes = 3, .window = absl::Seconds(60), .open_for = absl::Seconds(30), .users = 2};
  auto host = MakeHost(workers, clock, options);
  for (int i = 0; i < 3; ++i) {
    const InvokeResult crash =
        host->InvokeAndWait("fake", "\"crash\"", absl::Seconds(10), nullptr, "a");
    CHECK(Reason(crash.output.status()) == "PLUGIN_CRASHED");
  }
  const InvokeResult refused =
      host->InvokeAndWait("fake", "\"ok\"", absl::Seconds(10), nullptr, "a");
  CHECK(refused.output.status().code() == absl::StatusCode::kUnavailable);
  CHECK(Reason(refused.output.status()) == "PLUGIN_DISABLED");
  CHECK(Scope(refused.output.status()) == "user");
  // Everyone else is still served, and the plugin shows its recent crashes, not DISABLED.
  const InvokeResult served =
      host->InvokeAndWait("fake", "\"ok\"", absl::Seconds(10), nullptr, "b");
  CHECK(served.output.ok());
  CHECK(host->Stats()[0].state == CircuitBreaker::State::kDegraded);

  // A second user's crash: the crashes in the window now come from two users.
  const InvokeResult crash =
      host->InvokeAndWait("fake", "\"crash\"", absl::Seconds(10), nullptr, "c");
  CHECK(Reason(crash.output.status()) == "PLUGIN_CRASHED");
  const InvokeResult everyone =
      host->InvokeAndWait("fake", "\"ok\"", absl::Seconds(10), nullptr, "b");
  CHECK(Reason(everyone.output.status()) == "PLUGIN_DISABLED");
  CHECK(Scope(everyone.output.status()) == "plugin");
  CHECK(host->Stats()[0].state == CircuitBreaker::State::kDisabled);
}

TEST_CASE("a warm worker that burns CPU while idle is recycled, and one within budget is kept") {
  FakeClock clock;
  FakeWorkers workers(clock);
  HostOptions options;
  options.idle_cpu_budget = absl::Milliseconds(100);
  options.idle_check_interval = absl::Milliseconds(5);
  auto host = MakeHost(workers, clock, options);
  REQUIRE(host->InvokeAndWait("fake", "\"ok\"", absl::Seconds(10)).output.ok());
  CHECK(workers.alive() == 1);

  workers.BurnCpu(absl::Milliseconds(50));  // within budget: kept warm
  REQUIRE(host->InvokeAndWait("fake", "\"ok\"", absl::Seconds(10)).output.ok());
  CHECK(workers.started() == 1);

  workers.BurnCpu(absl::Milliseconds(150));  // over budget while no call runs
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (workers.alive() > 0 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(1));  // polls the slot thread's periodic check
  }
  CHECK(workers.alive() == 0);
  CHECK(host->Stats()[0].warm_workers == 0);
  CHECK(host->Stats()[0].idle_recycles == 1);
  // A fresh worker on demand.
  REQUIRE(host->InvokeAndWait("fake", "\"ok\"", absl::Seconds(10)).output.ok());
  CHECK(workers.started() == 2);
}

TEST_CASE("a worker over its idle budget is not reused even when calls keep it busy") {
  FakeClock clock;
  FakeWorkers workers(clock);
  HostOptions options;
  options.idle_cpu_budget = absl::Milliseconds(100);
  options.idle_check_interval = absl::Hours(1);  // only the check before reuse can see it
  auto host = MakeHost(workers, clock, options);
  REQUIRE(host->InvokeAndWait("fake", "\"ok\"", absl::Seconds(10)).output.ok());
  workers.BurnCpu(absl::Milliseconds(150));
  REQUIRE(host->InvokeAndWait("fake", "\"ok\"", absl::Seconds(10)).output.ok());
  CHECK(workers.started() == 2);
  CHECK(workers.alive() == 1);
}

}  // namespace spine::plugins
