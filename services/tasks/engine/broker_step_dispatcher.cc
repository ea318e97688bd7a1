#include "services/tasks/engine/broker_step_dispatcher.h"

#include <vector>

namespace spine::tasks {
namespace {

// In process, the engine publishes as the service that hosts it.
constexpr char kPublisher[] = "tasks";

}  // namespace

absl::Status BrokerStepDispatcher::Send(const bus::StepMessage& message) {
  std::vector<bus::Message> messages(1);
  messages[0].id = message.id;
  messages[0].payload = message.payload;
  return broker_.Publish(message.queue, std::move(messages), kPublisher).status();
}

}  // namespace spine::tasks
