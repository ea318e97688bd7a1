#include "services/plugins/plugin_step_runner.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "google/protobuf/util/json_util.h"
#include "libs/bus/step_protocol.h"
#include "libs/rpc/error_info.h"
#include "services/plugins/plugin_service.h"

namespace spine::plugins {

absl::StatusOr<bus::StopFn> PluginStepRunner::Start(const spine::v1::StepJob& job, Done done) {
  if (!job.has_plugin()) return absl::InvalidArgumentError("not a plugin step");
  spine::v1::InvokePluginRequest request;
  request.set_name(job.plugin().name());
  *request.mutable_input() = job.plugin().input();
  absl::StatusOr<Invocation> invocation = PluginService::Validate(
      request, host_, InvokeLimits{}, bus::StepDeadlineOf(job), absl::Now());
  if (!invocation.ok()) return invocation.status();
  invocation->user_id = absl::StrCat(job.user_id());  // the run's owner: fairness, breaker

  InvocationRecord record{.user_id = absl::StrCat(job.user_id()),
                          .plugin = job.plugin().name(),
                          .input_bytes = static_cast<int64_t>(invocation->input_json.size()),
                          // The job id ties the audit event to the run; '/' is not allowed in
                          // a request id.
                          .request_id = absl::StrReplaceAll(job.job_id(), {{"/", ":"}})};
  // The plugin's own limit when it is the shorter, else the step's timeoutMs (the job's deadline).
  const int32_t timeout_ms = invocation->timeout_ms > 0 ? invocation->timeout_ms : job.timeout_ms();
  invocation->on_done = [this, done = std::move(done), record, timeout_ms](
                            InvokeResult result, InvocationStats stats) mutable {
    absl::StatusOr<google::protobuf::Value> output = absl::UnknownError("no output");
    if (!result.output.ok()) {
      // As a direct invocation says it: the step's own timeout named, the plugin's last logs.
      output =
          WithLogs(NameTimeout(result.output.status(), record.plugin, timeout_ms), result.logs);
    } else {
      record.output_bytes = static_cast<int64_t>(result.output->size());
      google::protobuf::Value value;
      if (google::protobuf::util::JsonStringToMessage(*result.output, &value).ok()) {
        output = std::move(value);
      } else {
        output = WithLogs(rpc::WithErrorInfo(absl::InternalError(absl::StrCat(
                                                 "plugin '", record.plugin, "' answered badly")),
                                             kPluginBadOutput),
                          result.logs);
      }
    }
    record.duration = stats.queue_wait + stats.run_duration;
    record.outcome = OutcomeOf(output.status());
    spine::v1::AuditEvent event = AuditEventOf(record);
    event.set_action("plugins.pipeline_step");
    audit_.Record(std::move(event));
    done(std::move(output));
  };
  absl::StatusOr<InvocationHandle> handle = host_.Submit(*std::move(invocation));
  if (!handle.ok()) return handle.status();
  return [handle = *std::move(handle)] { handle.Cancel(); };
}

std::vector<std::string> PluginStepRunner::Names() const {
  std::vector<std::string> names;
  for (const PluginStats& stats : host_.Stats()) names.push_back(stats.plugin->manifest.name());
  return names;
}

}  // namespace spine::plugins
