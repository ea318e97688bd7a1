// spine-tasks: reads its config, builds the event bus (broker, its ticker, the gRPC service) and
// the TaskEngine over it (runs in spine-storage, step jobs into the broker, results and executor
// advertisements from it), serves until SIGTERM/SIGINT.
#include <atomic>
#include <thread>

#include "libs/audit/storage_audit_writer.h"
#include "libs/bus/broker.h"
#include "libs/bus/broker_ticker.h"
#include "libs/bus/consumer.h"
#include "libs/bus/step_protocol.h"
#include "libs/core/log.h"
#include "libs/core/scheduler.h"
#include "libs/core/worker_pool.h"
#include "libs/rpc/channel.h"
#include "libs/rpc/service_main.h"
#include "libs/rpc/signals.h"
#include "services/tasks/bus/event_bus_service.h"
#include "services/tasks/engine/broker_step_dispatcher.h"
#include "services/tasks/engine/executor_registry.h"
#include "services/tasks/engine/task_engine.h"
#include "services/tasks/pipeline_service.h"
#include "services/tasks/run_service.h"
#include "services/tasks/store/storage_pipeline_store.h"
#include "services/tasks/store/storage_run_store.h"
#include "services/tasks/tasks_config.h"

namespace {

using spine::log::Error;

// Picks up the unfinished runs once spine-storage answers; retried until it does or we stop.
class Recovery {
 public:
  explicit Recovery(spine::tasks::TaskEngine& engine) : thread_([this, &engine] { Run(engine); }) {}
  ~Recovery() {
    stop_ = true;
    thread_.join();
  }
  Recovery(const Recovery&) = delete;
  Recovery& operator=(const Recovery&) = delete;

 private:
  void Run(spine::tasks::TaskEngine& engine) {
    absl::Duration pause = absl::Milliseconds(200);
    while (!stop_) {
      const absl::Status recovered = engine.Recover();
      if (recovered.ok()) return;
      spine::log::Warn("run recovery will be retried",
                       {{"error", std::string(recovered.message())}});
      for (absl::Duration slept; slept < pause && !stop_; slept += absl::Milliseconds(50)) {
        absl::SleepFor(absl::Milliseconds(50));
      }
      pause = std::min(pause * 2, absl::Seconds(5));
    }
  }

  std::atomic<bool> stop_{false};
  std::thread thread_;
};

int Run(const spine::tasks::TasksConfig& config) {
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

  // Admins' dead-letter actions go to the audit log in spine-storage. Declared before
  // everything that records into it, so it is destroyed last and writes out what they recorded.
  spine::audit::StorageAuditWriter audit_writer(
      spine::rpc::MakeChannel(common.addresses.storage, common.max_message_bytes),
      config.service_token, {.deadline = absl::Milliseconds(common.rpc_deadline_ms)});
  spine::tasks::EventBusService bus(
      **broker, authenticator,
      [&audit_writer](const spine::rpc::Caller& caller, const std::string& action,
                      const std::string& detail) {
        spine::v1::AuditEvent event;
        event.set_actor(caller.user_id);
        event.set_action(action);
        event.set_target("bus");
        event.set_outcome("ok");
        event.set_request_id(caller.request_id);
        (*event.mutable_details()->mutable_fields())["detail"].set_string_value(detail);
        audit_writer.Record(std::move(event));
      });

  // The TaskEngine.
  const auto storage = spine::rpc::MakeChannel(common.addresses.storage, common.max_message_bytes);
  const absl::Duration storage_deadline = absl::Milliseconds(common.rpc_deadline_ms);
  spine::tasks::StorageRunStore runs(storage, config.service_token, storage_deadline);
  spine::tasks::StoragePipelineStore pipelines(storage, config.service_token, storage_deadline);
  spine::tasks::BrokerStepDispatcher dispatcher(**broker);
  spine::tasks::ExecutorRegistry registry(clock);
  spine::ThreadScheduler scheduler(clock);
  auto workers =
      spine::WorkerPool::Create(static_cast<int>(config.engine_threads), /*max_queued=*/10000);
  if (!workers.ok()) {
    Error("cannot start", {{"error", std::string(workers.status().message())}});
    return 1;
  }
  spine::WorkerPool& pool = **workers;
  spine::tasks::TaskEngine engine(
      runs, dispatcher, scheduler, clock,
      [&pool](std::function<void()> task) { return pool.Submit(std::move(task)); },
      {.max_active_runs_per_user = static_cast<int>(config.user_max_runs),
       .render_limits = config.render_limits});
  spine::tasks::PipelineService pipeline_service(pipelines, registry, authenticator);
  spine::tasks::RunService run_service(engine, runs, pipelines, registry, authenticator);

  // Step results and executor advertisements come back over this service's own bus.
  const auto self = spine::rpc::MakeChannel(common.addresses.tasks, common.max_message_bytes);
  auto results = spine::bus::Consumer::Start(
      self,
      {.queue = spine::bus::kStepResultsQueue,
       .consumer_name = "tasks-engine",
       .service_token = config.service_token,
       .concurrency = 4},
      [&engine](const spine::bus::ReceivedMessage& message) {
        spine::v1::StepResult result;
        if (!result.ParseFromString(message.payload)) {
          return absl::InvalidArgumentError("not a StepResult");
        }
        return engine.OnStepResult(
            result, {.publisher = message.publisher, .in_reply_to = message.in_reply_to});
      });
  auto advertisements = spine::bus::Consumer::Start(
      self,
      {.queue = spine::bus::kExecutorAdvertiseQueue,
       .consumer_name = "tasks-registry",
       .service_token = config.service_token},
      [&registry](const spine::bus::ReceivedMessage& message) {
        spine::v1::ExecutorAdvertisement advertisement;
        if (!advertisement.ParseFromString(message.payload)) {
          return absl::InvalidArgumentError("not an ExecutorAdvertisement");
        }
        // A malformed or forged advertisement (another service's kind or executor) is logged
        // and dropped: retrying cannot fix it.
        if (absl::Status taken = registry.Advertise(advertisement, message.publisher);
            !taken.ok()) {
          spine::log::Warn("advertisement refused", {{"error", std::string(taken.message())}});
        }
        return absl::OkStatus();
      });
  if (!results.ok() || !advertisements.ok()) {
    Error("cannot start",
          {{"error",
            "bus consumers: " +
                std::string(
                    (!results.ok() ? results.status() : advertisements.status()).message())}});
    return 1;
  }
  Recovery recovery(engine);

  spine::bus::Broker& bus_broker = **broker;
  const int code = spine::rpc::ServeUntilSignal(
      common, common.addresses.tasks, authenticator, {&bus, &pipeline_service, &run_service},
      [&bus_broker, &engine, &audit_writer, &registry](spine::v1::ServiceStatus* status) {
        registry.ReportKinds(status);  // the gateway's /readyz waits for every kind to be heard
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
        status->set_active_runs(engine.active_runs());
        status->set_audit_write_failures(audit_writer.Stats().failed +
                                         audit_writer.Stats().dropped);
      });
  (*advertisements)->Stop();
  (*results)->Stop();
  pool.Shutdown();
  return code;
}

}  // namespace

int main() {
  spine::rpc::BlockTerminationSignals();
  std::optional<spine::tasks::TasksConfig> config =
      spine::rpc::LoadConfig<spine::tasks::TasksConfig>("tasks", spine::tasks::ReadTasksConfig);
  if (!config) return 2;
  return Run(*config);
}
