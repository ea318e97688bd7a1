#include "services/storage/storage_config.h"

namespace spine::storage {

StorageConfig ReadStorageConfig(ConfigReader& reader) {
  StorageConfig config;
  config.common = ReadCommonConfig(reader, "storage");
  return config;
}

}  // namespace spine::storage
