// spine-llm: reads its config, builds its objects, serves until SIGTERM/SIGINT.
#include "libs/rpc/service_main.h"
#include "libs/rpc/signals.h"
#include "services/llm/llm_config.h"

int main() {
  spine::rpc::BlockTerminationSignals();
  std::optional<spine::llm::LlmConfig> config =
      spine::rpc::LoadConfig<spine::llm::LlmConfig>("llm", spine::llm::ReadLlmConfig);
  if (!config) return 2;
  return spine::rpc::ServeUntilSignal(config->common, config->common.addresses.llm);
}
