// spine-plugins: reads its config, builds its objects, serves until SIGTERM/SIGINT.
#include "libs/rpc/service_main.h"
#include "libs/rpc/signals.h"
#include "services/plugins/plugins_config.h"

int main() {
  spine::rpc::BlockTerminationSignals();
  std::optional<spine::plugins::PluginsConfig> config =
      spine::rpc::LoadConfig<spine::plugins::PluginsConfig>("plugins",
                                                            spine::plugins::ReadPluginsConfig);
  if (!config) return 2;
  return spine::rpc::ServeUntilSignal(config->common, config->common.addresses.plugins);
}
