#include "services/plugins/plugin_service.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <optional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "google/protobuf/util/json_util.h"
#include "libs/bus/cancellable_jobs.h"
#include "libs/rpc/error_info.h"
#include "libs/rpc/status_convert.h"
#include "services/plugins/host/worker_protocol.h"

namespace spine::plugins {
namespace {

using spine::v1::InvokePluginRequest;
using spine::v1::InvokePluginResponse;

absl::Time RpcDeadline(const grpc::CallbackServerContext& context) {
  const std::chrono::system_clock::time_point deadline = context.deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) return absl::InfiniteFuture();
  return absl::FromChrono(deadline);
}

int32_t ClampedMillis(absl::Duration duration) {
  const int64_t millis = absl::ToInt64Milliseconds(duration);
  return static_cast<int32_t>(std::clamp<int64_t>(millis, 0, std::numeric_limits<int32_t>::max()));
}

spine::v1::Plugin::State ToProto(CircuitBreaker::State state) {
  switch (state) {
    case CircuitBreaker::State::kReady:
      return spine::v1::Plugin::READY;
    case CircuitBreaker::State::kDegraded:
      return spine::v1::Plugin::DEGRADED;
    case CircuitBreaker::State::kDisabled:
      return spine::v1::Plugin::DISABLED;
  }
  return spine::v1::Plugin::STATE_UNSPECIFIED;
}

absl::Status NotFound(const std::string& name) {
  return rpc::WithErrorInfo(
      absl::NotFoundError(absl::StrCat("plugin '", name.substr(0, 64), "' not found")),
      "PLUGIN_NOT_FOUND");
}

}  // namespace

void FillPlugin(const PluginStats& stats, bool with_manifest, spine::v1::Plugin* out) {
  const spine::v1::PluginManifest& manifest = stats.plugin->manifest;
  out->set_name(manifest.name());
  out->set_version(manifest.version());
  out->set_description(manifest.description());
  out->set_runtime(manifest.runtime());
  *out->mutable_permissions() = manifest.permissions();
  out->set_state(ToProto(stats.state));
  if (with_manifest) *out->mutable_manifest() = manifest;
}

void FillRefused(const RefusedPlugin& plugin, spine::v1::Plugin* out) {
  // Folder names and an unchecked plugin.json may hold anything; proto strings must be UTF-8.
  out->set_name(CleanText(plugin.name, 255));
  out->set_version(CleanText(plugin.manifest.version(), 64));
  out->set_description(CleanText(plugin.manifest.description(), 1024));
  out->set_runtime(CleanText(plugin.manifest.runtime(), 16));
  out->set_state(spine::v1::Plugin::FAILED);
  out->set_load_error(CleanText(plugin.why.message(), 1024));
}

absl::StatusOr<Invocation> PluginService::Validate(const InvokePluginRequest& request,
                                                   const PluginHost& host,
                                                   const InvokeLimits& limits,
                                                   absl::Time rpc_deadline, absl::Time now) {
  const std::shared_ptr<const LoadedPlugin> plugin = host.Find(request.name());
  if (plugin == nullptr) {
    if (const std::optional<RefusedPlugin> refused = host.FindRefused(request.name())) {
      return LoadFailedError(*refused);
    }
    return NotFound(request.name());
  }
  if (request.has_timeout_ms() &&
      (request.timeout_ms() < 1 || request.timeout_ms() > limits.max_timeout_ms)) {
    return absl::InvalidArgumentError(
        absl::StrCat("timeoutMs: ", request.timeout_ms(), ", must be 1..", limits.max_timeout_ms));
  }
  Invocation invocation;
  invocation.plugin = request.name();
  if (request.has_input()) {
    google::protobuf::util::JsonPrintOptions options;
    options.add_whitespace = false;
    const auto printed = google::protobuf::util::MessageToJsonString(
        request.input(), &invocation.input_json, options);
    if (!printed.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("input: ", std::string(printed.message())));
    }
  } else {
    invocation.input_json = "null";
  }
  if (static_cast<int64_t>(invocation.input_json.size()) > limits.max_input_bytes) {
    return rpc::WithErrorInfo(absl::InvalidArgumentError(
                                  absl::StrCat("input: ", invocation.input_json.size(),
                                               " bytes of JSON, at most ", limits.max_input_bytes)),
                              "INPUT_TOO_LARGE");
  }
  // The plugin's own limit caps what a caller may ask for.
  const int32_t plugin_ms = plugin->limits.timeout_ms;
  const int32_t timeout_ms =
      request.has_timeout_ms() ? std::min(request.timeout_ms(), plugin_ms) : plugin_ms;
  const absl::Time timeout_at = now + absl::Milliseconds(timeout_ms);
  invocation.deadline = std::min(rpc_deadline, timeout_at);
  if (timeout_at <= rpc_deadline) invocation.timeout_ms = timeout_ms;
  return invocation;
}

absl::Status NameTimeout(absl::Status status, const std::string& plugin, int32_t timeout_ms) {
  if (!absl::IsDeadlineExceeded(status) || timeout_ms <= 0 || rpc::GetErrorInfo(status)) {
    return status;
  }
  return rpc::WithErrorInfo(absl::DeadlineExceededError(absl::StrCat(
                                "plugin '", plugin, "' exceeded its ", timeout_ms, " ms timeout")),
                            kPluginTimeout,
                            {{"plugin", plugin}, {"timeoutMs", absl::StrCat(timeout_ms)}});
}

absl::Status WithLogs(absl::Status status, const std::vector<std::string>& logs) {
  std::optional<google::rpc::ErrorInfo> info = rpc::GetErrorInfo(status);
  if (status.ok() || logs.empty() || !info) return status;
  // The last lines, most likely about the failure, within the budget: the error travels in
  // gRPC trailers, which the gateway's channel takes up to 8 KiB of.
  size_t first = logs.size();
  size_t bytes = 0;
  while (first > 0 && bytes + logs[first - 1].size() + 1 <= kMaxErrorLogBytes) {
    bytes += logs[--first].size() + 1;
  }
  if (first == logs.size()) return status;
  std::vector<std::string> kept(logs.begin() + static_cast<std::ptrdiff_t>(first), logs.end());
  (*info->mutable_metadata())["logs"] = absl::StrJoin(kept, "\n");
  return rpc::AttachErrorInfo(absl::Status(status.code(), status.message()), *info);
}

std::string OutcomeOf(const absl::Status& status) {
  if (status.ok()) return "OK";
  std::string outcome = absl::StatusCodeToString(status.code());
  if (std::optional<google::rpc::ErrorInfo> info = rpc::GetErrorInfo(status)) {
    absl::StrAppend(&outcome, " ", info->reason());
  }
  return outcome;
}

spine::v1::AuditEvent AuditEventOf(const InvocationRecord& record) {
  spine::v1::AuditEvent event;
  event.set_actor(record.user_id);
  event.set_action("plugins.invoke");
  event.set_target(absl::StrCat("plugin:", record.plugin));
  event.set_request_id(record.request_id);
  auto& details = *event.mutable_details()->mutable_fields();
  details["inputBytes"].set_number_value(static_cast<double>(record.input_bytes));
  details["outputBytes"].set_number_value(static_cast<double>(record.output_bytes));
  details["durationMs"].set_number_value(
      static_cast<double>(absl::ToInt64Milliseconds(record.duration)));
  if (record.outcome == "OK") {
    event.set_outcome("ok");
    return event;
  }
  // "CODE REASON" or "CODE".
  const size_t space = record.outcome.find(' ');
  const std::string code = record.outcome.substr(0, space);
  details["code"].set_string_value(code);
  if (space != std::string::npos)
    details["reason"].set_string_value(record.outcome.substr(space + 1));
  event.set_outcome(code == "RESOURCE_EXHAUSTED" ? "denied" : "error");
  return event;
}

// A unary InvokePlugin call: submits the invocation, finishes from its `on_done`, cancels it on
// OnCancel.
class PluginService::InvokeReactor final : public grpc::ServerUnaryReactor {
 public:
  InvokeReactor(std::string user_id, std::string request_id, const InvocationObserver& observer)
      : user_id_(std::move(user_id)), request_id_(std::move(request_id)), observer_(observer) {}

  void Reject(const absl::Status& status) { Finish(rpc::ToGrpcStatus(status)); }

  void Start(PluginHost& host, Invocation invocation, InvokePluginResponse* response) {
    const std::string plugin = invocation.plugin;
    const auto input_bytes = static_cast<int64_t>(invocation.input_json.size());
    const int32_t timeout_ms = invocation.timeout_ms;
    // The response stays valid until Finish; nothing touches the reactor after Finish.
    invocation.on_done = [this, response, plugin, input_bytes, timeout_ms](InvokeResult result,
                                                                           InvocationStats stats) {
      absl::Status status = result.output.status();
      int64_t output_bytes = 0;
      if (status.ok()) {
        output_bytes = static_cast<int64_t>(result.output->size());
        const auto parsed =
            google::protobuf::util::JsonStringToMessage(*result.output, response->mutable_output());
        if (!parsed.ok()) {
          status = rpc::WithErrorInfo(
              absl::InternalError(absl::StrCat(
                  "plugin '", plugin, "' answered badly: ", std::string(parsed.message()))),
              kPluginBadOutput);
        }
      }
      if (observer_) {
        observer_(InvocationRecord{.user_id = user_id_,
                                   .plugin = plugin,
                                   .input_bytes = input_bytes,
                                   .output_bytes = output_bytes,
                                   .duration = stats.queue_wait + stats.run_duration,
                                   .outcome = OutcomeOf(status),
                                   .request_id = request_id_});
      }
      if (!status.ok()) {
        status = WithLogs(NameTimeout(std::move(status), plugin, timeout_ms), result.logs);
        return Finish(rpc::ToGrpcStatus(status));
      }
      response->set_duration_ms(ClampedMillis(stats.run_duration));
      for (std::string& line : result.logs) response->add_logs(std::move(line));
      Finish(grpc::Status::OK);
    };
    absl::StatusOr<InvocationHandle> handle = host.Submit(std::move(invocation));
    if (!handle.ok()) return Reject(handle.status());
    stop_.Attach([handle = *std::move(handle)] { handle.Cancel(); });
  }

  void OnCancel() override { stop_.Cancel(); }

  void OnDone() override { delete this; }

 private:
  const std::string user_id_;
  const std::string request_id_;
  const InvocationObserver& observer_;
  bus::PendingCancel stop_;  // the invocation, once submitted
};

grpc::ServerUnaryReactor* PluginService::ListPlugins(
    grpc::CallbackServerContext* context, const spine::v1::ListPluginsRequest* /*request*/,
    spine::v1::ListPluginsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (auto caller = authenticator_.Authenticate(*context); !caller.ok()) {
    reactor->Finish(rpc::ToGrpcStatus(caller.status()));
    return reactor;
  }
  for (const PluginStats& stats : host_.Stats()) {
    FillPlugin(stats, /*with_manifest=*/false, response->add_plugins());
  }
  for (const RefusedPlugin& refused : host_.refused()) {
    FillRefused(refused, response->add_plugins());
  }
  // One list, by name.
  std::sort(
      response->mutable_plugins()->begin(), response->mutable_plugins()->end(),
      [](const spine::v1::Plugin& a, const spine::v1::Plugin& b) { return a.name() < b.name(); });
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* PluginService::GetPlugin(grpc::CallbackServerContext* context,
                                                   const spine::v1::GetPluginRequest* request,
                                                   spine::v1::Plugin* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (auto caller = authenticator_.Authenticate(*context); !caller.ok()) {
    reactor->Finish(rpc::ToGrpcStatus(caller.status()));
    return reactor;
  }
  for (const PluginStats& stats : host_.Stats()) {
    if (stats.plugin->manifest.name() == request->name()) {
      FillPlugin(stats, /*with_manifest=*/true, response);
      reactor->Finish(grpc::Status::OK);
      return reactor;
    }
  }
  if (const std::optional<RefusedPlugin> refused = host_.FindRefused(request->name())) {
    FillRefused(*refused, response);
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  reactor->Finish(rpc::ToGrpcStatus(NotFound(request->name())));
  return reactor;
}

grpc::ServerUnaryReactor* PluginService::InvokePlugin(grpc::CallbackServerContext* context,
                                                      const InvokePluginRequest* request,
                                                      InvokePluginResponse* response) {
  absl::StatusOr<rpc::Caller> caller = authenticator_.Authenticate(*context);
  // gRPC's callback API owns reactors this way: created here, deleted in OnDone.
  auto* reactor = new InvokeReactor(caller.ok() ? caller->user_id : "",
                                    caller.ok() ? caller->request_id : "", observer_);
  if (!caller.ok()) {
    reactor->Reject(caller.status());
    return reactor;
  }
  absl::StatusOr<Invocation> invocation =
      Validate(*request, host_, limits_, RpcDeadline(*context), absl::Now());
  if (!invocation.ok()) {
    reactor->Reject(invocation.status());
    return reactor;
  }
  invocation->user_id = caller->user_id;  // fairness and the per-user breaker
  reactor->Start(host_, *std::move(invocation), response);
  return reactor;
}

grpc::ServerUnaryReactor* PluginService::ReloadPlugins(
    grpc::CallbackServerContext* context, const spine::v1::ReloadPluginsRequest* /*request*/,
    spine::v1::ReloadPluginsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<rpc::Caller> caller = authenticator_.Authenticate(*context);
  if (!caller.ok()) {
    reactor->Finish(rpc::ToGrpcStatus(caller.status()));
    return reactor;
  }
  if (!reload_) {
    reactor->Finish(rpc::ToGrpcStatus(absl::UnimplementedError("this host cannot reload")));
    return reactor;
  }
  // On the callback thread: a reload reads a few folders and is rare (an operator's act).
  absl::StatusOr<ReloadReport> report = reload_(*caller);
  if (!report.ok()) {
    reactor->Finish(rpc::ToGrpcStatus(report.status()));
    return reactor;
  }
  for (const std::string& name : report->added) response->add_added(name);
  for (const std::string& name : report->replaced) response->add_replaced(name);
  for (const std::string& name : report->removed) response->add_removed(name);
  for (const std::string& name : report->unchanged) response->add_unchanged(name);
  for (const RefusedPlugin& refused : report->failed) FillRefused(refused, response->add_failed());
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

spine::v1::AuditEvent AuditEventOf(const rpc::Caller& caller,
                                   const absl::StatusOr<ReloadReport>& report) {
  spine::v1::AuditEvent event;
  event.set_actor(caller.user_id);
  event.set_action("plugins.reload");
  event.set_target("plugins");
  event.set_outcome(report.ok() ? "ok" : "error");
  event.set_request_id(caller.request_id);
  auto& details = *event.mutable_details()->mutable_fields();
  if (!report.ok()) {
    details["error"].set_string_value(std::string(report.status().message()).substr(0, 1024));
    return event;
  }
  auto names = [&](const char* key, const std::vector<std::string>& list) {
    auto* values = details[key].mutable_list_value();
    for (const std::string& name : list) values->add_values()->set_string_value(name);
  };
  names("added", report->added);
  names("replaced", report->replaced);
  names("removed", report->removed);
  std::vector<std::string> failed;
  for (const RefusedPlugin& plugin : report->failed) failed.push_back(CleanText(plugin.name, 255));
  names("failed", failed);
  return event;
}

}  // namespace spine::plugins
