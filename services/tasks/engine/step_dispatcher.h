// StepDispatcher: how the TaskEngine puts a step's message (a job, or the cancel of one, as
// bus::JobMessage and bus::CancelMessage build them for the step's kind) on its way to the
// executors. In production it publishes to the event bus; tests use a fake that records the
// queues. Results come back to TaskEngine::OnStepResult.
#pragma once

#include "absl/status/status.h"
#include "libs/bus/step_protocol.h"

namespace spine::tasks {

class StepDispatcher {
 public:
  virtual ~StepDispatcher() = default;
  // Publishes `message` on its queue. Never blocks. An error (the bus is full or away) fails a
  // job's attempt as retryable; a cancel is best effort.
  virtual absl::Status Send(const bus::StepMessage& message) = 0;
};

}  // namespace spine::tasks
