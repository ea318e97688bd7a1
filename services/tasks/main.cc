// spine-tasks: reads its config, builds its objects, serves until SIGTERM/SIGINT.
#include "libs/rpc/service_main.h"
#include "libs/rpc/signals.h"
#include "services/tasks/tasks_config.h"

int main() {
  spine::rpc::BlockTerminationSignals();
  std::optional<spine::tasks::TasksConfig> config =
      spine::rpc::LoadConfig<spine::tasks::TasksConfig>("tasks", spine::tasks::ReadTasksConfig);
  if (!config) return 2;
  return spine::rpc::ServeUntilSignal(config->common, config->common.addresses.tasks);
}
