// LlmStepRunner: how spine-llm runs a pipeline's LLM steps for the TaskEngine (through the
// StepWorker, off the event bus): validated like a direct generate, then through the same
// GenerationAdmission (the step's user's limits, the model's fair queue, the audit log, as
// "llm.pipeline_step"). The step's output is the generate response as JSON: {text, model,
// finishReason, promptTokens, completionTokens, queueWaitMs, durationMs}.
// Thread-safe; `admission` must outlive it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "libs/bus/cancellable_jobs.h"
#include "libs/bus/step_worker.h"
#include "services/llm/generation_admission.h"
#include "services/llm/llm_service.h"

namespace spine::llm {

class LlmStepRunner final : public bus::StepRunner {
 public:
  LlmStepRunner(GenerationAdmission& admission, LlmLimits limits)
      : admission_(admission), limits_(limits) {}

  void Run(const spine::v1::StepJob& job,
           std::function<void(absl::StatusOr<google::protobuf::Value>)> done) override;
  void Cancel(const std::string& job_id) override;
  std::vector<std::string> Names() const override;

 private:
  GenerationAdmission& admission_;
  const LlmLimits limits_;
  bus::CancellableJobs<JobHandle> running_;
};

}  // namespace spine::llm
