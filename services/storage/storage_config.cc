#include "services/storage/storage_config.h"

namespace spine::storage {

StorageConfig ReadStorageConfig(ConfigReader& reader) {
  StorageConfig config;
  config.common = ReadCommonConfig(reader, "storage");
  config.page_token_key = reader.SecretOrFile("SPINE_PAGE_TOKEN_KEY", 32);
  config.read_connections = reader.Int("SPINE_STORAGE_READ_CONNECTIONS", 4, 1, 64);
  return config;
}

}  // namespace spine::storage
