#include "services/plugins/plugins_config.h"

namespace spine::plugins {

PluginsConfig ReadPluginsConfig(ConfigReader& reader) {
  PluginsConfig config;
  config.common = ReadCommonConfig(reader, "plugins");
  return config;
}

}  // namespace spine::plugins
