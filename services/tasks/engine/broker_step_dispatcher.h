// BrokerStepDispatcher: the TaskEngine's StepDispatcher in spine-tasks, which hosts the event
// bus: step jobs go straight into the in-process Broker ("steps.llm", "steps.plugin"), cancels
// into "steps.<kind>.cancel", with the job id as the messageId so a job sent again after a
// restart is stored once. No network, so it never blocks.
#pragma once

#include "libs/bus/broker.h"
#include "services/tasks/engine/step_dispatcher.h"

namespace spine::tasks {

class BrokerStepDispatcher final : public StepDispatcher {
 public:
  explicit BrokerStepDispatcher(bus::Broker& broker) : broker_(broker) {}

  absl::Status Dispatch(const spine::v1::StepJob& job) override;
  void Cancel(const spine::v1::StepJob& job) override;

 private:
  bus::Broker& broker_;
};

}  // namespace spine::tasks
