// ExecutorListener: what the executors (spine-llm, spine-plugins) send spine-tasks, read from its
// own Broker in process: step results ("steps.results") go to TaskEngine::OnStepResult with the
// origin the broker vouches for, advertisements ("executors.advertise") to the ExecutorRegistry.
// A result the engine cannot take now is left for redelivery; a payload that cannot be read is
// nacked until the broker dead-letters it; a malformed or forged advertisement is logged and
// dropped (retrying cannot fix it). The broker, engine and registry must outlive it.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "libs/bus/broker.h"
#include "libs/bus/local_consumer.h"
#include "services/tasks/engine/executor_registry.h"
#include "services/tasks/engine/task_engine.h"

namespace spine::tasks {

class ExecutorListener {
 public:
  // Subscribes to both queues; the broker's errors as they are.
  static absl::StatusOr<std::unique_ptr<ExecutorListener>> Start(bus::Broker& broker,
                                                                 TaskEngine& engine,
                                                                 ExecutorRegistry& registry);
  // Stops listening; what was not handled goes back to the queues.
  void Stop();

 private:
  ExecutorListener() = default;

  std::unique_ptr<bus::LocalConsumer> results_;
  std::unique_ptr<bus::LocalConsumer> advertisements_;
};

}  // namespace spine::tasks
