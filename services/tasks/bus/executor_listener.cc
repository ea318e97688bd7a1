#include "services/tasks/bus/executor_listener.h"

#include <string>

#include "libs/bus/step_protocol.h"
#include "libs/core/log.h"

namespace spine::tasks {
namespace {

// The service that hosts the broker, as the broker names its subscriptions' owner.
constexpr char kOwner[] = "tasks";

}  // namespace

absl::StatusOr<std::unique_ptr<ExecutorListener>> ExecutorListener::Start(
    bus::Broker& broker, TaskEngine& engine, ExecutorRegistry& registry) {
  std::unique_ptr<ExecutorListener> listener(new ExecutorListener());
  absl::StatusOr<std::unique_ptr<bus::LocalConsumer>> results = bus::LocalConsumer::Start(
      broker, {.queue = bus::kStepResultsQueue, .consumer_name = "tasks-engine", .owner = kOwner},
      [&engine](const bus::Message& message) -> absl::Status {
        absl::StatusOr<spine::v1::StepResult> result = bus::ParseStepResult(message.payload);
        if (!result.ok()) return result.status();
        // Non-blocking: the engine takes it on its workers.
        return engine.OnStepResult(
            *result, {.publisher = message.publisher, .in_reply_to = message.in_reply_to});
      });
  if (!results.ok()) return results.status();
  listener->results_ = *std::move(results);
  absl::StatusOr<std::unique_ptr<bus::LocalConsumer>> advertisements = bus::LocalConsumer::Start(
      broker,
      {.queue = bus::kExecutorAdvertiseQueue, .consumer_name = "tasks-registry", .owner = kOwner},
      [&registry](const bus::Message& message) -> absl::Status {
        absl::StatusOr<spine::v1::ExecutorAdvertisement> advertisement =
            bus::ParseAdvertisement(message.payload);
        if (!advertisement.ok()) return advertisement.status();
        if (absl::Status taken = registry.Advertise(*advertisement, message.publisher);
            !taken.ok()) {
          log::Warn("advertisement refused", {{"error", std::string(taken.message())}});
        }
        return absl::OkStatus();
      });
  if (!advertisements.ok()) return advertisements.status();
  listener->advertisements_ = *std::move(advertisements);
  return listener;
}

void ExecutorListener::Stop() {
  if (advertisements_) advertisements_->Stop();
  if (results_) results_->Stop();
}

}  // namespace spine::tasks
