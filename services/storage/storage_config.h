// StorageConfig: every setting spine-storage reads, filled and validated once in main.cc.
#pragma once

#include "libs/core/common_config.h"
#include "libs/core/config_reader.h"

namespace spine::storage {

struct StorageConfig {
  CommonConfig common;
};

StorageConfig ReadStorageConfig(ConfigReader& reader);

}  // namespace spine::storage
