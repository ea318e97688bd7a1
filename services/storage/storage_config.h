// StorageConfig: every setting spine-storage reads, filled and validated once in main.cc.
#pragma once

#include <cstdint>
#include <string>

#include "libs/core/common_config.h"
#include "libs/core/config_reader.h"

namespace spine::storage {

struct StorageConfig {
  CommonConfig common;
  std::string page_token_key;    // SPINE_PAGE_TOKEN_KEY: HMAC key of page tokens (secret)
  int64_t read_connections = 0;  // SPINE_STORAGE_READ_CONNECTIONS
};

StorageConfig ReadStorageConfig(ConfigReader& reader);

}  // namespace spine::storage
