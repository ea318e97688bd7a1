// spine-storage: reads its config, builds its objects, serves until SIGTERM/SIGINT.
#include "libs/rpc/service_main.h"
#include "libs/rpc/signals.h"
#include "services/storage/storage_config.h"

int main() {
  spine::rpc::BlockTerminationSignals();
  std::optional<spine::storage::StorageConfig> config =
      spine::rpc::LoadConfig<spine::storage::StorageConfig>("storage",
                                                            spine::storage::ReadStorageConfig);
  if (!config) return 2;
  return spine::rpc::ServeUntilSignal(config->common, config->common.addresses.storage, {});
}
