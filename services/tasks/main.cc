// spine-tasks: reads its config, builds the event bus (broker, its ticker, the gRPC service),
// serves until SIGTERM/SIGINT.
#include "libs/bus/broker.h"
#include "libs/bus/broker_ticker.h"
#include "libs/core/log.h"
#include "libs/rpc/service_main.h"
#include "libs/rpc/signals.h"
#include "services/tasks/bus/event_bus_service.h"
#include "services/tasks/tasks_config.h"

namespace {

int Run(const spine::tasks::TasksConfig& config) {
  using spine::log::Error;
  const spine::CommonConfig& common = config.common;
  spine::Clock& clock = spine::RealClock::Instance();

  auto broker = spine::bus::Broker::Create(clock, config.bus);
  if (!broker.ok()) {
    Error("refusing to start", {{"error", std::string(broker.status().message())}});
    return 2;
  }
  spine::bus::BrokerTicker ticker(**broker, clock);
  auto verifier = spine::rpc::LoadJwtVerifier(common, clock);
  if (!verifier.ok()) {
    Error("refusing to start", {{"error", std::string(verifier.status().message())}});
    return 2;
  }
  const spine::rpc::Authenticator authenticator(verifier->get());

  // The admin actions are logged here until spine-tasks writes the shared audit log.
  spine::tasks::EventBusService bus(
      **broker, authenticator,
      [](const spine::rpc::Caller& caller, const std::string& action, const std::string& detail) {
        spine::log::Info("audit", {{"actor", caller.name},
                                   {"user_id", caller.user_id},
                                   {"action", action},
                                   {"detail", detail}});
      });
  spine::bus::Broker& bus_broker = **broker;
  return spine::rpc::ServeUntilSignal(
      common, common.addresses.tasks, authenticator, {&bus},
      [&bus_broker](spine::v1::ServiceStatus* status) {
        absl::Duration lag = absl::ZeroDuration();
        for (const spine::bus::QueueStats& stats : bus_broker.Stats()) {
          spine::v1::BusQueue* queue = status->add_bus_queues();
          queue->set_queue(stats.queue);
          queue->set_depth(stats.depth);
          queue->set_in_flight(stats.in_flight);
          queue->set_dead_letters(stats.dead_letters);
          queue->set_oldest_undelivered_ms(absl::ToInt64Milliseconds(stats.oldest_undelivered_age));
          lag = std::max(lag, stats.oldest_undelivered_age);
        }
        status->set_queue_lag_ms(absl::ToInt64Milliseconds(lag));
      });
}

}  // namespace

int main() {
  spine::rpc::BlockTerminationSignals();
  std::optional<spine::tasks::TasksConfig> config =
      spine::rpc::LoadConfig<spine::tasks::TasksConfig>("tasks", spine::tasks::ReadTasksConfig);
  if (!config) return 2;
  return Run(*config);
}
