#include "services/llm/llm_step_runner.h"

#include <string>
#include <utility>

#include "absl/strings/str_replace.h"
#include "libs/bus/step_protocol.h"

namespace spine::llm {
namespace {

google::protobuf::Value OutputOf(const std::string& model, const JobResult& job) {
  google::protobuf::Value output;
  auto& fields = *output.mutable_struct_value()->mutable_fields();
  const GenerateResult& result = *job.result;
  fields["text"].set_string_value(result.text);
  fields["model"].set_string_value(model);
  fields["finishReason"].set_string_value(result.finish_reason);
  fields["promptTokens"].set_number_value(result.prompt_tokens);
  fields["completionTokens"].set_number_value(result.completion_tokens);
  fields["queueWaitMs"].set_number_value(
      static_cast<double>(absl::ToInt64Milliseconds(job.queue_wait)));
  fields["durationMs"].set_number_value(
      static_cast<double>(absl::ToInt64Milliseconds(job.run_duration)));
  return output;
}

}  // namespace

absl::StatusOr<bus::StopFn> LlmStepRunner::Start(const spine::v1::StepJob& job, Done done) {
  if (!job.has_llm()) return absl::InvalidArgumentError("not an llm step");
  spine::v1::GenerateRequest request;
  request.set_model(job.llm().model());
  request.set_prompt(job.llm().prompt());
  if (job.llm().has_system()) request.set_system(job.llm().system());
  if (job.llm().has_max_tokens()) request.set_max_tokens(job.llm().max_tokens());
  if (job.llm().has_temperature()) request.set_temperature(job.llm().temperature());
  absl::StatusOr<GenerateParams> params =
      LlmService::Validate(request, admission_.pool(), limits_, bus::StepDeadlineOf(job));
  if (!params.ok()) return params.status();

  JobRequest pool_job{.model = job.llm().model(),
                      .user_id = std::to_string(job.user_id()),
                      .params = *std::move(params)};
  pool_job.on_done = [model = job.llm().model(), timeout_ms = job.timeout_ms(),
                      done = std::move(done)](const JobResult& result) {
    // The step's timeoutMs that ran out is named as a caller's timeoutMs is.
    if (!result.result.ok()) {
      return done(NameGenerationTimeout(result.result.status(), model, timeout_ms));
    }
    done(OutputOf(model, result));
  };
  // The audit event carries the id of the request that started the run, so one id finds the
  // run's generations too; a job from an older spine-tasks has none, and its id ('/' is not
  // allowed in a request id) still ties the event to the run.
  const std::string request_id =
      job.request_id().empty() ? absl::StrReplaceAll(job.job_id(), {{"/", ":"}}) : job.request_id();
  absl::StatusOr<JobHandle> handle = admission_.Submit(
      std::move(pool_job), {.action = "llm.pipeline_step", .request_id = request_id});
  if (!handle.ok()) return handle.status();
  return [handle = *std::move(handle)] { handle.Cancel(); };
}

std::vector<std::string> LlmStepRunner::Names() const {
  std::vector<std::string> names;
  for (const ModelConfig& model : admission_.pool().models()) names.push_back(model.name);
  return names;
}

}  // namespace spine::llm
