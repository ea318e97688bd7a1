// PluginHost's queue, fairness, cancel, deadlines, circuit breaker and idle recycling, with fake
// workers (fake_worker.h) on a FakeClock: no node, no sandbox.
#include "services/plugins/host/plugin_host.h"

#include <catch2/catch.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/notification.h"
#include "libs/rpc/error_info.h"
#include "tests/support/poll.h"
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

// Waits (bounded) for what the host's own threads make true.
bool WaitFor(const std::function<bool()>& condition) {
  return spine::testing::PollUntil(condition, spine::testing::kPollTimeout, absl::Milliseconds(1));
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
  // The slot thread's periodic check runs on its own thread: poll for its verdict.
  CHECK(WaitFor([&] { return workers.alive() == 0; }));
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

namespace {

LoadedPlugin Named(const std::string& name, const std::string& fingerprint, int concurrency = 1) {
  LoadedPlugin plugin;
  plugin.manifest.set_name(name);
  plugin.limits.concurrency = concurrency;
  plugin.fingerprint = fingerprint;
  return plugin;
}

absl::StatusOr<InvocationHandle> SubmitTo(PluginHost& host, const Clock& clock,
                                          const std::string& plugin, const std::string& input,
                                          Pending& pending) {
  return host.Submit(Invocation{.plugin = plugin,
                                .user_id = "u",
                                .input_json = "\"" + input + "\"",
                                .deadline = clock.Now() + absl::Seconds(30),
                                .on_done = [&pending](InvokeResult result, InvocationStats) {
                                  pending.result = std::move(result);
                                  pending.done.Notify();
                                }});
}

}  // namespace

TEST_CASE("a reload adds, replaces and removes plugins; accepted calls finish on the old pool") {
  FakeClock clock;
  FakeWorkers workers(clock);
  std::vector<LoadedPlugin> plugins;
  plugins.push_back(Named("fake", "v1"));
  plugins.push_back(Named("gone", "g1"));
  plugins.push_back(Named("same", "s1"));
  auto created = PluginHost::Create(std::move(plugins), HostOptions{}, clock, workers.Factory(),
                                    {RefusedPlugin{.name = "was-bad", .why = absl::OkStatus()}});
  REQUIRE(created.ok());
  PluginHost& host = **created;

  // One call runs (held) on the old version's only slot, one waits behind it.
  Pending running;
  Pending queued;
  REQUIRE(SubmitTo(host, clock, "fake", "hold-old", running).ok());
  REQUIRE(workers.WaitForHeld(1, absl::Seconds(10)));
  REQUIRE(SubmitTo(host, clock, "fake", "queued-old", queued).ok());
  const std::shared_ptr<const LoadedPlugin> old_fake = host.Find("fake");
  REQUIRE(old_fake != nullptr);

  LoadedPlugins next;
  next.plugins.push_back(Named("fake", "v2"));
  next.plugins.push_back(Named("new", "n1"));
  next.plugins.push_back(Named("same", "s1"));
  next.refused.push_back(
      RefusedPlugin{.name = "bad", .why = absl::InvalidArgumentError("colour: unknown field")});
  absl::StatusOr<ReloadReport> report = host.Reload(std::move(next));
  REQUIRE(report.ok());
  CHECK(report->added == std::vector<std::string>{"new"});
  CHECK(report->replaced == std::vector<std::string>{"fake"});
  CHECK(report->removed == std::vector<std::string>{"gone", "was-bad"});
  CHECK(report->unchanged == std::vector<std::string>{"same"});
  REQUIRE(report->failed.size() == 1);
  CHECK(report->failed[0].name == "bad");

  // New calls go to the new version at once, though the old one is still busy.
  Pending fresh;
  REQUIRE(SubmitTo(host, clock, "fake", "fresh", fresh).ok());
  REQUIRE(Finished(fresh));
  CHECK(fresh.result.output.ok());
  CHECK(host.Find("fake")->fingerprint == "v2");
  CHECK(old_fake->fingerprint == "v1");  // still valid: a reload frees nothing under a caller
  CHECK_FALSE(running.done.HasBeenNotified());

  // The accepted calls finish on the old pool, which then stops its worker.
  workers.Release(1);
  REQUIRE(Finished(running));
  CHECK(running.result.output.ok());
  REQUIRE(Finished(queued));
  CHECK(queued.result.output.ok());
  const std::vector<std::string> received = workers.received();
  CHECK(received == std::vector<std::string>{"\"hold-old\"", "\"fresh\"", "\"queued-old\""});
  // Only the new version's warm worker is left.
  CHECK(WaitFor([&] { return workers.alive() == 1; }));

  Pending missing;
  CHECK(SubmitTo(host, clock, "gone", "x", missing).status().code() == absl::StatusCode::kNotFound);
  CHECK(Reason(SubmitTo(host, clock, "bad", "x", missing).status()) == kPluginLoadFailed);
  CHECK(SubmitTo(host, clock, "new", "x", missing).ok());
  REQUIRE(Finished(missing));
  std::vector<std::string> names;
  for (const PluginStats& stats : host.Stats()) names.push_back(stats.plugin->manifest.name());
  CHECK(names == std::vector<std::string>{"fake", "new", "same"});
  REQUIRE(host.refused().size() == 1);
  CHECK(host.FindRefused("bad").has_value());
  CHECK_FALSE(host.FindRefused("was-bad").has_value());

  // The same folder again changes nothing (and joins the retired pool's threads).
  LoadedPlugins same;
  same.plugins.push_back(Named("fake", "v2"));
  same.plugins.push_back(Named("new", "n1"));
  same.plugins.push_back(Named("same", "s1"));
  absl::StatusOr<ReloadReport> again = host.Reload(std::move(same));
  REQUIRE(again.ok());
  CHECK(again->added.empty());
  CHECK(again->replaced.empty());
  CHECK(again->removed == std::vector<std::string>{"bad"});
  CHECK(again->unchanged == std::vector<std::string>{"fake", "new", "same"});
}

TEST_CASE("a plugin removed by a reload while its calls wait still answers every one of them") {
  FakeClock clock;
  FakeWorkers workers(clock);
  auto host = MakeHost(workers, clock, HostOptions{});
  std::vector<Pending> calls(5);
  REQUIRE(Submit(*host, clock, "u", "hold", calls[0]).ok());
  REQUIRE(workers.WaitForHeld(1, absl::Seconds(10)));
  for (size_t i = 1; i < calls.size(); ++i) {
    REQUIRE(Submit(*host, clock, "u", "queued", calls[i]).ok());
  }
  REQUIRE(host->Reload(LoadedPlugins{}).ok());
  Pending refused;
  CHECK(Submit(*host, clock, "u", "late", refused).status().code() == absl::StatusCode::kNotFound);
  workers.Release(1);
  for (Pending& call : calls) {
    REQUIRE(Finished(call));
    CHECK(call.result.output.ok());
  }
  CHECK(WaitFor([&] { return workers.alive() == 0; }));
}

}  // namespace spine::plugins
