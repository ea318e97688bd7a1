// BrokerStepDispatcher: the TaskEngine's StepDispatcher in spine-tasks, which hosts the event
// bus: step messages go straight into the in-process Broker, as spine-tasks itself. No network,
// so it never blocks.
#pragma once

#include "libs/bus/broker.h"
#include "services/tasks/engine/step_dispatcher.h"

namespace spine::tasks {

class BrokerStepDispatcher final : public StepDispatcher {
 public:
  explicit BrokerStepDispatcher(bus::Broker& broker) : broker_(broker) {}

  absl::Status Send(const bus::StepMessage& message) override;

 private:
  bus::Broker& broker_;
};

}  // namespace spine::tasks
