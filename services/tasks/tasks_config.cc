#include "services/tasks/tasks_config.h"

namespace spine::tasks {

TasksConfig ReadTasksConfig(ConfigReader& reader) {
  TasksConfig config;
  config.common = ReadCommonConfig(reader, "tasks");
  return config;
}

}  // namespace spine::tasks
