// LlmStepRunner: how spine-llm runs a pipeline's LLM steps for the TaskEngine (through the
// StepWorker, off the event bus): validated like a direct generate, then through the same
// GenerationAdmission (the step's user's limits, the model's fair queue, the audit log, as
// "llm.pipeline_step"). The step's output is the generate response as JSON: {text, model,
// finishReason, promptTokens, completionTokens, queueWaitMs, durationMs}.
// Thread-safe; `admission` must outlive it.
#pragma once

#include <string>
#include <vector>

#include "libs/bus/step_worker.h"
#include "services/llm/generation_admission.h"
#include "services/llm/llm_service.h"

namespace spine::llm {

class LlmStepRunner final : public bus::StepRunner {
 public:
  LlmStepRunner(GenerationAdmission& admission, LlmLimits limits)
      : admission_(admission), limits_(limits) {}

  absl::StatusOr<bus::StopFn> Start(const spine::v1::StepJob& job, Done done) override;
  std::vector<std::string> Names() const override;

 private:
  GenerationAdmission& admission_;
  const LlmLimits limits_;
};

}  // namespace spine::llm
