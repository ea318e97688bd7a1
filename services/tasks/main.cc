// spine-tasks: reads its config, builds the event bus (broker, its ticker, the gRPC service) and
// the TaskEngine over it (runs in spine-storage, step jobs into the broker, results and executor
// advertisements read from it in process), serves until SIGTERM/SIGINT.
#include "libs/audit/storage_audit_writer.h"
#include "libs/bus/broker.h"
#include "libs/bus/broker_ticker.h"
#include "libs/core/log.h"
#include "libs/core/scheduler.h"
#include "libs/core/worker_pool.h"
#include "libs/rpc/channel.h"
#include "libs/rpc/service_main.h"
#include "libs/rpc/signals.h"
#include "services/tasks/bus/event_bus_service.h"
#include "services/tasks/bus/executor_listener.h"
#include "services/tasks/engine/broker_step_dispatcher.h"
#include "services/tasks/engine/executor_registry.h"
#include "services/tasks/engine/run_recovery.h"
#include "services/tasks/engine/task_engine.h"
#include "services/tasks/pipeline_service.h"
#include "services/tasks/run_service.h"
#include "services/tasks/store/storage_pipeline_store.h"
#include "services/tasks/store/storage_run_store.h"
#include "services/tasks/tasks_config.h"
#include "services/tasks/tasks_status.h"

namespace {

using spine::log::Error;

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
  const auto storage = spine::rpc::MakeChannel(common.addresses.storage, common.max_message_bytes);
  const absl::Duration storage_deadline = absl::Milliseconds(common.rpc_deadline_ms);
  spine::audit::StorageAuditWriter audit_writer(storage, config.service_token,
                                                {.deadline = storage_deadline});
  spine::tasks::EventBusService bus(**broker, authenticator,
                                    spine::tasks::EventBusService::AuditTo(audit_writer));

  // The TaskEngine.
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

  auto listener = spine::tasks::ExecutorListener::Start(**broker, engine, registry);
  if (!listener.ok()) {
    Error("cannot start", {{"error", std::string(listener.status().message())}});
    return 1;
  }
  spine::tasks::RunRecovery recovery(engine);

  const spine::bus::Broker& bus_broker = **broker;
  const int code = spine::rpc::ServeUntilSignal(
      common, common.addresses.tasks, authenticator, {&bus, &pipeline_service, &run_service},
      [&bus_broker, &engine, &audit_writer, &registry](spine::v1::ServiceStatus* status) {
        spine::tasks::ReportStatus(bus_broker, engine, audit_writer, status);
        registry.ReportKinds(status);  // the gateway's /readyz waits for every kind to be heard
      });
  (*listener)->Stop();
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
