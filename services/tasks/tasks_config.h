// TasksConfig: every setting spine-tasks reads, filled and validated once in main.cc.
#pragma once

#include "libs/core/common_config.h"
#include "libs/core/config_reader.h"

namespace spine::tasks {

struct TasksConfig {
  CommonConfig common;
};

TasksConfig ReadTasksConfig(ConfigReader& reader);

}  // namespace spine::tasks
