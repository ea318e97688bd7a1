// PluginService: the gRPC face of the PluginHost (plugins.proto): caller identity, validation,
// the deadline, and the mapping of the host's results and errors to replies (API.md, "Plugins").
//
// InvokePlugin uses the callback API and finishes from the host's `on_done`, so no gRPC thread
// waits for a plugin; when the client leaves or its deadline passes (OnCancel) the invocation is
// cancelled, and the call is finished only after `on_done` has run.
//
// Thread-safe. `host` and `authenticator` must outlive the server the service is registered
// with; the server must be shut down before the host is destroyed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/rpc/caller.h"
#include "services/plugins/host/plugin_host.h"
#include "spine/v1/plugins.grpc.pb.h"
#include "spine/v1/storage.pb.h"

namespace spine::plugins {

// One finished invocation, for the audit log (spine-storage's audit writer plugs in here).
struct InvocationRecord {
  std::string user_id{};
  std::string plugin{};
  int64_t input_bytes = 0;
  int64_t output_bytes = 0;
  absl::Duration duration = absl::ZeroDuration();  // queue wait + run
                                                   // "OK", or the gRPC code name and the ErrorInfo
                                                   // reason ("UNKNOWN PLUGIN_CRASHED").
  std::string outcome{};
  std::string request_id{};
};
using InvocationObserver = std::function<void(const InvocationRecord&)>;

// `record` as an audit event: actor the user, action "plugins.invoke", target "plugin:<name>",
// outcome ok / denied (a limit refused it) / error, details the sizes, duration, code and reason.
spine::v1::AuditEvent AuditEventOf(const InvocationRecord& record);
// InvocationRecord::outcome for `status`: "OK", or its code name and ErrorInfo reason.
std::string OutcomeOf(const absl::Status& status);

// DEADLINE_EXCEEDED of an invocation whose own timeout ran out (the caller's timeoutMs or the
// plugin's limit), named as such.
inline constexpr char kPluginTimeout[] = "PLUGIN_TIMEOUT";
// At most this much of a failed invocation's captured logs rides on its error.
inline constexpr size_t kMaxErrorLogBytes = 2048;

// `status`, when it is a bare DEADLINE_EXCEEDED and `timeout_ms` (> 0) was the limit, as
// "plugin 'x' exceeded its N ms timeout" with reason PLUGIN_TIMEOUT (metadata plugin,
// timeoutMs); any other status unchanged.
absl::Status NameTimeout(absl::Status status, const std::string& plugin, int32_t timeout_ms);
// `status` with the last of `logs` that fit in kMaxErrorLogBytes, one per line, as its ErrorInfo
// metadata "logs"; unchanged when it is OK, has no ErrorInfo or there are no logs.
absl::Status WithLogs(absl::Status status, const std::vector<std::string>& logs);

// Re-reads the plugins folder into the host, for `caller` (main.cc wires the loader, the host
// and the audit log).
using PluginReloader = std::function<absl::StatusOr<ReloadReport>(const rpc::Caller& caller)>;

// A reload as an audit event: actor the admin, action "plugins.reload", details the names
// added, replaced, removed and failed (or the error).
spine::v1::AuditEvent AuditEventOf(const rpc::Caller& caller,
                                   const absl::StatusOr<ReloadReport>& report);

struct InvokeLimits {
  int64_t max_input_bytes = int64_t{256} * 1024;  // serialized JSON
  int32_t max_timeout_ms = 60000;                 // API.md: timeoutMs at most 60000
};

class PluginService final : public spine::v1::PluginService::CallbackService {
 public:
  // `observer` (may be empty) is told about every invocation that reached the host.
  // `reload` (may be empty: ReloadPlugins is then UNIMPLEMENTED) serves ReloadPlugins.
  PluginService(PluginHost& host, const rpc::Authenticator& authenticator, InvokeLimits limits,
                InvocationObserver observer, PluginReloader reload = nullptr)
      : host_(host),
        authenticator_(authenticator),
        limits_(limits),
        observer_(std::move(observer)),
        reload_(std::move(reload)) {}

  // Every plugin, sorted by name: the loaded ones with their effective permissions and breaker
  // state, the refused ones FAILED with their load_error.
  grpc::ServerUnaryReactor* ListPlugins(grpc::CallbackServerContext* context,
                                        const spine::v1::ListPluginsRequest* request,
                                        spine::v1::ListPluginsResponse* response) override;
  // One plugin with its manifest (a FAILED one without). NOT_FOUND (PLUGIN_NOT_FOUND).
  grpc::ServerUnaryReactor* GetPlugin(grpc::CallbackServerContext* context,
                                      const spine::v1::GetPluginRequest* request,
                                      spine::v1::Plugin* response) override;
  // Runs the plugin on `input`. INVALID_ARGUMENT for an input over 256 KiB (INPUT_TOO_LARGE) or
  // a timeoutMs outside 1..60000; NOT_FOUND (PLUGIN_NOT_FOUND); UNAVAILABLE (PLUGIN_LOAD_FAILED)
  // for a FAILED plugin; the host's errors as they are: UNAVAILABLE (SANDBOX_UNAVAILABLE,
  // PLUGIN_DISABLED), RESOURCE_EXHAUSTED (QUEUE_FULL),
  // DEADLINE_EXCEEDED, UNKNOWN (PLUGIN_ERROR, PLUGIN_CRASHED, PLUGIN_BAD_OUTPUT,
  // SANDBOX_VIOLATION).
  grpc::ServerUnaryReactor* InvokePlugin(grpc::CallbackServerContext* context,
                                         const spine::v1::InvokePluginRequest* request,
                                         spine::v1::InvokePluginResponse* response) override;

  // Admins only: re-reads the plugins folder (PluginHost::Reload) and says what changed.
  grpc::ServerUnaryReactor* ReloadPlugins(grpc::CallbackServerContext* context,
                                          const spine::v1::ReloadPluginsRequest* request,
                                          spine::v1::ReloadPluginsResponse* response) override;

  // The host invocation a request describes: input as JSON text, deadline the earliest of the
  // RPC's, now + timeoutMs (default: the plugin's limits.timeoutMs) and now + the plugin's
  // limits.timeoutMs. Exposed for the tests.
  static absl::StatusOr<Invocation> Validate(const spine::v1::InvokePluginRequest& request,
                                             const PluginHost& host, const InvokeLimits& limits,
                                             absl::Time rpc_deadline, absl::Time now);

 private:
  class InvokeReactor;

  PluginHost& host_;
  const rpc::Authenticator& authenticator_;
  const InvokeLimits limits_;
  const InvocationObserver observer_;
  const PluginReloader reload_;
};

// The proto view of a loaded plugin and its state (manifest included when `with_manifest`).
void FillPlugin(const PluginStats& stats, bool with_manifest, spine::v1::Plugin* out);
// The proto view of a refused plugin: FAILED, load_error, and the version, description and
// runtime its plugin.json gives (unchecked, so bounded and cleaned here; no manifest).
void FillRefused(const RefusedPlugin& plugin, spine::v1::Plugin* out);

}  // namespace spine::plugins
