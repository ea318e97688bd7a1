// spine-plugins: reads its config, loads the plugins, starts the host and the sandbox monitor,
// serves PluginService until SIGTERM/SIGINT.
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libs/audit/storage_audit_writer.h"
#include "libs/bus/step_worker.h"
#include "libs/core/log.h"
#include "libs/rpc/channel.h"
#include "libs/rpc/service_main.h"
#include "libs/rpc/signals.h"
#include "services/plugins/host/circuit_breaker.h"
#include "services/plugins/host/manifest.h"
#include "services/plugins/host/plugin_host.h"
#include "services/plugins/host/sandbox_monitor.h"
#include "services/plugins/plugin_service.h"
#include "services/plugins/plugin_step_runner.h"
#include "services/plugins/plugins_config.h"
#include "services/plugins/sandbox/sandbox.h"

namespace {

using spine::log::Error;
using spine::log::Info;
using spine::log::Warn;
using spine::plugins::HostOptions;
using spine::plugins::InvocationRecord;
using spine::plugins::InvokeLimits;
using spine::plugins::LoadedPlugin;
using spine::plugins::LoadedPlugins;
using spine::plugins::LoadPluginsDir;
using spine::plugins::PluginHost;
using spine::plugins::PluginService;
using spine::plugins::RefusedPlugin;
using spine::plugins::SandboxMonitor;

std::string Absolute(const std::string& path) {
  std::error_code error;
  const std::filesystem::path absolute = std::filesystem::absolute(path, error);
  return error ? path : absolute.lexically_normal().string();
}

// The plugins' data dir, created and without symlinks: workers refuse a write path that passes
// through one, so a symlinked SPINE_DATA_DIR (say /tmp on some systems) must be resolved here.
std::string ResolvedDataDir(const std::string& path) {
  std::error_code error;
  std::filesystem::create_directories(path, error);
  const std::filesystem::path resolved = std::filesystem::canonical(path, error);
  return error ? Absolute(path) : resolved.string();
}

int Run(spine::plugins::PluginsConfig config) {
  const spine::CommonConfig& common = config.common;
  spine::Clock& clock = spine::RealClock::Instance();

  // Paths a worker is confined to must not depend on the cwd it is started from.
  config.bounds.data_dir = ResolvedDataDir(config.bounds.data_dir);
  std::vector<LoadedPlugin> plugins;
  std::vector<RefusedPlugin> refused;  // listed as FAILED, each with why
  absl::StatusOr<LoadedPlugins> loaded =
      LoadPluginsDir(Absolute(config.plugins_dir), config.bounds);
  if (!loaded.ok()) {
    Error("no plugins loaded", {{"error", std::string(loaded.status().message())}});
  } else {
    for (const RefusedPlugin& plugin : loaded->refused) {
      Warn("plugin refused",
           {{"folder", plugin.name}, {"error", std::string(plugin.why.message())}});
    }
    for (const LoadedPlugin& plugin : loaded->plugins) {
      Info("plugin loaded", {{"plugin", plugin.manifest.name()},
                             {"version", plugin.manifest.version()},
                             {"concurrency", absl::StrCat(plugin.limits.concurrency)}});
    }
    plugins = std::move(loaded->plugins);
    refused = std::move(loaded->refused);
  }

  HostOptions options;
  options.worker.node_binary = config.node_binary;
  options.queue_limit = static_cast<int>(config.queue_limit);
  options.user_queue_limit = static_cast<int>(config.user_queue_limit);
  options.recycle_after = static_cast<int>(config.recycle_after);
  options.idle_cpu_budget = absl::Milliseconds(config.idle_cpu_budget_ms);
  options.breaker.crashes = static_cast<int>(config.breaker_crashes);
  options.breaker.window = absl::Milliseconds(config.breaker_window_ms);
  options.breaker.open_for = absl::Milliseconds(config.breaker_open_ms);
  options.breaker.users = static_cast<int>(config.breaker_users);
  auto host = PluginHost::Create(std::move(plugins), options, clock, {}, std::move(refused));
  if (!host.ok()) {
    Error("refusing to start", {{"error", std::string(host.status().message())}});
    return 2;
  }
  PluginHost& host_ref = **host;

  SandboxMonitor monitor(
      [node = config.node_binary,
       options = spine::plugins::sandbox::SelfTestOptions{.accept_without_namespaces =
                                                              config.accept_weaker_sandbox}](
          std::string* layers) {
        return spine::plugins::sandbox::SandboxSelfTest(node, options, layers);
      },
      [&host_ref](bool passed) { host_ref.SetSandboxAvailable(passed); }, clock,
      absl::Milliseconds(config.self_test_interval_ms));
  (void)monitor.RunOnce();  // before serving, so the first invocation knows
  monitor.Start();

  auto verifier = spine::rpc::LoadJwtVerifier(common, clock);
  if (!verifier.ok()) {
    Error("refusing to start", {{"error", std::string(verifier.status().message())}});
    return 2;
  }
  const spine::rpc::Authenticator authenticator(verifier->get());
  // Every invocation is audited in spine-storage (sizes, duration, outcome; never the data).
  spine::audit::StorageAuditWriter audit_writer(
      spine::rpc::MakeChannel(common.addresses.storage, common.max_message_bytes),
      config.service_token, {.deadline = absl::Milliseconds(common.rpc_deadline_ms)});
  // An admin's reload reads the folder again with the same bounds, and is audited either way.
  auto reload =
      [&host_ref, &audit_writer, dir = Absolute(config.plugins_dir), bounds = config.bounds](
          const spine::rpc::Caller& caller) -> absl::StatusOr<spine::plugins::ReloadReport> {
    absl::StatusOr<spine::plugins::ReloadReport> report = [&]() {
      absl::StatusOr<LoadedPlugins> loaded = LoadPluginsDir(dir, bounds);
      if (!loaded.ok()) {
        // A folder that cannot be listed changes nothing: it is not "every plugin removed".
        return absl::StatusOr<spine::plugins::ReloadReport>(absl::FailedPreconditionError(
            absl::StrCat("the plugins folder cannot be read; nothing changed: ",
                         loaded.status().message())));
      }
      return host_ref.Reload(*std::move(loaded));
    }();
    if (report.ok()) {
      Info("plugins reloaded", {{"added", absl::StrJoin(report->added, ",")},
                                {"replaced", absl::StrJoin(report->replaced, ",")},
                                {"removed", absl::StrJoin(report->removed, ",")},
                                {"failed", absl::StrCat(report->failed.size())}});
    }
    audit_writer.Record(spine::plugins::AuditEventOf(caller, report));
    return report;
  };
  PluginService service(
      host_ref, authenticator, InvokeLimits{},
      [&audit_writer](const InvocationRecord& record) {
        audit_writer.Record(spine::plugins::AuditEventOf(record));
      },
      reload);
  // Pipeline steps from spine-tasks' event bus, through the same host as direct invocations.
  spine::plugins::PluginStepRunner step_runner(host_ref, audit_writer);
  auto step_worker = spine::bus::StepWorker::Start(
      spine::rpc::MakeChannel(common.addresses.tasks, common.max_message_bytes),
      {.kind = "plugin",
       .executor_name = absl::StrCat("plugins@", common.addresses.plugins, ":", getpid()),
       .service_token = config.service_token,
       .concurrency = static_cast<int>(config.step_concurrency)},
      step_runner);
  if (!step_worker.ok()) {
    Error("cannot start", {{"error", std::string(step_worker.status().message())}});
    return 1;
  }
  const int code = spine::rpc::ServeUntilSignal(
      common, common.addresses.plugins, authenticator, {&service},
      [&monitor, &host_ref, &audit_writer](spine::v1::ServiceStatus* status) {
        status->set_plugin_sandbox_alive(monitor.Alive());
        status->set_plugin_sandbox(monitor.Report());
        status->set_audit_write_failures(audit_writer.Stats().failed +
                                         audit_writer.Stats().dropped);
        for (const auto& stats : host_ref.Stats()) {
          spine::v1::PluginCounters* plugin = status->add_plugins();
          plugin->set_plugin(stats.plugin->manifest.name());
          plugin->set_invocations(stats.invocations);
          plugin->set_crashes(stats.crashes);
          plugin->set_queued(stats.queued);
          plugin->set_running(stats.running);
          plugin->set_breaker_open(stats.state == spine::plugins::CircuitBreaker::State::kDisabled);
        }
      });
  monitor.Stop();
  return code;
}

}  // namespace

int main() {
  spine::rpc::BlockTerminationSignals();
  std::optional<spine::plugins::PluginsConfig> config =
      spine::rpc::LoadConfig<spine::plugins::PluginsConfig>("plugins",
                                                            spine::plugins::ReadPluginsConfig);
  if (!config) return 2;
  return Run(*std::move(config));
}
