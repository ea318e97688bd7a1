// TasksConfig: every setting spine-tasks reads, filled and validated once in main.cc.
#pragma once

#include <cstdint>
#include <string>

#include "libs/bus/broker.h"
#include "libs/core/common_config.h"
#include "libs/core/config_reader.h"
#include "services/tasks/pipeline/template.h"

namespace spine::tasks {

struct TasksConfig {
  CommonConfig common;
  // The event bus: SPINE_BUS_* (queue bounds, dedupe window, backoff, maxDeliver, dead letters,
  // ack deadlines, credits).
  bus::BrokerOptions bus;
  std::string service_token{};  // SPINE_SERVICE_TOKEN or the file SPINE_SERVICE_TOKEN_FILE
  int64_t user_max_runs = 0;    // SPINE_TASKS_USER_MAX_RUNS: runs in progress per user
  int64_t engine_threads = 0;   // SPINE_TASKS_ENGINE_THREADS: run transitions at once
  // SPINE_TASKS_RENDER_MAX_VALUE_BYTES, SPINE_TASKS_RENDER_MAX_BYTES: what one rendering of a
  // pipeline's templates may produce. The total is at most half SPINE_GRPC_MAX_MESSAGE_BYTES:
  // a rendered output is stored, with the rest of its run, in one message to spine-storage.
  RenderLimits render_limits{};
};

TasksConfig ReadTasksConfig(ConfigReader& reader);

}  // namespace spine::tasks
