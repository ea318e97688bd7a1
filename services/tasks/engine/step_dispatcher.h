// StepDispatcher: how the TaskEngine hands a step job to its executor and asks it to stop one.
// In production it publishes to the event bus ("steps.llm", "steps.plugin" and their ".cancel"
// queues); tests use a fake. Results come back to TaskEngine::OnStepResult.
#pragma once

#include "absl/status/status.h"
#include "spine/v1/tasks.pb.h"

namespace spine::tasks {

class StepDispatcher {
 public:
  virtual ~StepDispatcher() = default;
  // Hands `job` over. An error (the bus is full or away) fails this attempt as retryable.
  virtual absl::Status Dispatch(const spine::v1::StepJob& job) = 0;
  // Best effort: the executor stops the job if it is still running. Never blocks.
  virtual void Cancel(const spine::v1::StepJob& job) = 0;
};

}  // namespace spine::tasks
