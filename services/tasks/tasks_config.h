// TasksConfig: every setting spine-tasks reads, filled and validated once in main.cc.
#pragma once

#include "libs/bus/broker.h"
#include "libs/core/common_config.h"
#include "libs/core/config_reader.h"

namespace spine::tasks {

struct TasksConfig {
  CommonConfig common;
  // The event bus: SPINE_BUS_* (queue bounds, dedupe window, backoff, maxDeliver, dead letters,
  // ack deadlines, credits).
  bus::BrokerOptions bus;
};

TasksConfig ReadTasksConfig(ConfigReader& reader);

}  // namespace spine::tasks
