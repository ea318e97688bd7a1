// spine-llm: reads its config, builds the models, the conversation orchestrator and the two
// gRPC services, serves until SIGTERM/SIGINT.
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "libs/audit/storage_audit_writer.h"
#include "libs/bus/step_worker.h"
#include "libs/core/worker_pool.h"
#include "libs/rpc/channel.h"
#include "libs/rpc/service_main.h"
#include "libs/rpc/signals.h"
#include "services/llm/backend_reachability.h"
#include "services/llm/conversation_orchestrator.h"
#include "services/llm/conversation_service.h"
#include "services/llm/generation_admission.h"
#include "services/llm/llm_config.h"
#include "services/llm/llm_service.h"
#include "services/llm/llm_step_runner.h"
#include "services/llm/model_registry.h"
#include "services/llm/pool_reply_generator.h"
#include "services/llm/prompt_audit.h"
#include "services/llm/storage_conversation_store.h"
#include "services/llm/user_limits.h"

namespace {

int Run(const spine::llm::LlmConfig& config) {
  using spine::log::Error;
  const spine::CommonConfig& common = config.common;
  spine::Clock& clock = spine::RealClock::Instance();

  auto models = spine::llm::LoadModels(config.models_file);
  if (!models.ok()) {
    Error("refusing to start", {{"error", std::string(models.status().message())}});
    return 2;
  }
  auto registry = spine::llm::ModelRegistry::Create(*std::move(models), clock);
  if (!registry.ok()) {
    Error("refusing to start", {{"error", std::string(registry.status().message())}});
    return 2;
  }
  auto verifier = spine::rpc::LoadJwtVerifier(common, clock);
  if (!verifier.ok()) {
    Error("refusing to start", {{"error", std::string(verifier.status().message())}});
    return 2;
  }
  const spine::rpc::Authenticator authenticator(verifier->get());

  spine::llm::StorageConversationStore store(
      spine::rpc::MakeChannel(common.addresses.storage, common.max_message_bytes),
      config.service_token, absl::Milliseconds(common.rpc_deadline_ms));
  auto store_pool =
      spine::WorkerPool::Create(static_cast<int>(config.store_threads), /*max_queued=*/1024);
  if (!store_pool.ok()) {
    Error("cannot start", {{"error", std::string(store_pool.status().message())}});
    return 1;
  }
  // The audit writer is declared before everything that records into it, so it is destroyed
  // last and writes out what they recorded.
  spine::audit::StorageAuditWriter audit_writer(
      spine::rpc::MakeChannel(common.addresses.storage, common.max_message_bytes),
      config.service_token,
      {.queue_limit = static_cast<size_t>(config.audit_queue_limit),
       .deadline = absl::Milliseconds(common.rpc_deadline_ms)});
  const spine::llm::PromptAudit prompt_audit(audit_writer, config.audit_prompts == "full");
  spine::llm::UserLimits user_limits(
      {.max_concurrent = static_cast<int>(config.user_max_concurrent),
       .requests_per_minute = static_cast<int>(config.user_requests_per_minute)},
      clock);
  spine::llm::GenerationAdmission admission((*registry)->pool(), user_limits, prompt_audit);
  spine::llm::PoolReplyGenerator generator(admission);
  spine::llm::ConversationOrchestrator orchestrator(store, generator, (*registry)->ContextChars(),
                                                    **store_pool);

  spine::llm::LlmService llm(admission, authenticator,
                             spine::llm::LlmLimits{.max_prompt_chars = config.max_prompt_chars});
  spine::llm::ConversationService conversations(orchestrator, store, authenticator,
                                                config.max_prompt_chars);
  // Pipeline steps from spine-tasks' event bus, through the same admission as direct calls.
  spine::llm::LlmStepRunner step_runner(
      admission, spine::llm::LlmLimits{.max_prompt_chars = config.max_prompt_chars});
  auto step_worker = spine::bus::StepWorker::Start(
      spine::rpc::MakeChannel(common.addresses.tasks, common.max_message_bytes),
      {.kind = "llm",
       .executor_name = absl::StrCat("llm@", common.addresses.llm, ":", getpid()),
       .service_token = config.service_token,
       .concurrency = static_cast<int>(config.step_concurrency)},
      step_runner);
  if (!step_worker.ok()) {
    Error("cannot start", {{"error", std::string(step_worker.status().message())}});
    return 1;
  }
  spine::llm::RunnerPool& pool = (*registry)->pool();
  const spine::llm::BackendReachability backends(
      pool.models(), absl::Milliseconds(config.backend_check_ms),
      [](const std::string& base_url) { return spine::llm::ProbeTcp(base_url, absl::Seconds(1)); });
  return spine::rpc::ServeUntilSignal(
      common, common.addresses.llm, authenticator, {&llm, &conversations},
      [&pool, &audit_writer, &backends](spine::v1::ServiceStatus* status) {
        for (const spine::llm::BackendHealth& health : backends.Snapshot()) {
          spine::v1::ModelBackendHealth* entry = status->add_model_backends();
          entry->set_model(health.model);
          entry->set_reachable(health.reachable);
          entry->set_error(health.error);
        }
        status->set_audit_write_failures(audit_writer.Stats().failed +
                                         audit_writer.Stats().dropped);
        for (const spine::llm::ModelStats& stats : pool.Stats()) {
          spine::v1::ModelQueue* queue = status->add_model_queues();
          queue->set_model(stats.name);
          queue->set_queued(stats.queued);
          queue->set_running(stats.running);
          queue->set_oldest_queued_ms(absl::ToInt64Milliseconds(stats.oldest_queued_age));
          queue->set_max_concurrency(stats.max_concurrency);
        }
      });
}

}  // namespace

int main() {
  spine::rpc::BlockTerminationSignals();
  std::optional<spine::llm::LlmConfig> config =
      spine::rpc::LoadConfig<spine::llm::LlmConfig>("llm", spine::llm::ReadLlmConfig);
  if (!config) return 2;
  return Run(*config);
}
