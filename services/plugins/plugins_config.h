// PluginsConfig: every setting spine-plugins reads, filled and validated once in main.cc.
#pragma once

#include "libs/core/common_config.h"
#include "libs/core/config_reader.h"

namespace spine::plugins {

struct PluginsConfig {
  CommonConfig common;
};

PluginsConfig ReadPluginsConfig(ConfigReader& reader);

}  // namespace spine::plugins
