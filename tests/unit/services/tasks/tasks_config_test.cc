// TasksConfig: the SPINE_BUS_* settings, their defaults and the per-queue limits.
#include "services/tasks/tasks_config.h"

#include <catch2/catch.hpp>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "libs/core/environment.h"

namespace spine::tasks {
namespace {

// Reads the config from `vars` (dev mode, so no secrets are needed); the reader's verdict too.
std::pair<TasksConfig, absl::Status> Read(Environment::Vars vars) {
  vars.emplace("SPINE_DEV_MODE", "1");
  absl::StatusOr<Environment> env = Environment::FromParts(std::move(vars), "");
  REQUIRE(env.ok());
  ConfigReader reader(*env);
  TasksConfig config = ReadTasksConfig(reader);
  return {std::move(config), reader.Finish()};
}

TEST_CASE("tasks config: bus defaults") {
  auto [config, status] = Read({});
  REQUIRE(status.ok());
  CHECK(config.bus.default_limits.max_messages == 10000);
  CHECK(config.bus.default_limits.max_bytes == 64 << 20);
  CHECK(config.bus.max_deliver == 5);
  CHECK(config.bus.initial_backoff == absl::Milliseconds(200));
  CHECK(config.bus.max_backoff == absl::Seconds(60));
  CHECK(config.bus.default_ack_deadline == absl::Seconds(30));
  CHECK(config.bus.queue_limits.empty());
  CHECK(config.bus.max_message_bytes < config.common.max_message_bytes);
}

TEST_CASE("tasks config: bus settings and per-queue limits are read") {
  auto [config, status] = Read({{"SPINE_BUS_MAX_DELIVER", "3"},
                                {"SPINE_BUS_BACKOFF_INITIAL_MS", "50"},
                                {"SPINE_BUS_BACKOFF_MULTIPLIER", "1.5"},
                                {"SPINE_BUS_QUEUE_LIMITS", " llm.steps=100:65536 , tiny=2:1024"}});
  REQUIRE(status.ok());
  CHECK(config.bus.max_deliver == 3);
  CHECK(config.bus.initial_backoff == absl::Milliseconds(50));
  CHECK(config.bus.backoff_multiplier == 1.5);
  REQUIRE(config.bus.queue_limits.size() == 2);
  CHECK(config.bus.queue_limits.at("llm.steps").max_messages == 100);
  CHECK(config.bus.queue_limits.at("llm.steps").max_bytes == 65536);
  CHECK(config.bus.queue_limits.at("tiny").max_messages == 2);
}

TEST_CASE("tasks config: bad bus settings are refused by name") {
  for (const auto& [name, value] :
       std::vector<std::pair<std::string, std::string>>{{"SPINE_BUS_QUEUE_LIMITS", "jobs=10"},
                                                        {"SPINE_BUS_QUEUE_LIMITS", "bad name=1:1"},
                                                        {"SPINE_BUS_QUEUE_LIMITS", "jobs=0:1024"},
                                                        {"SPINE_BUS_QUEUE_LIMITS", "jobs=x:1024"},
                                                        {"SPINE_BUS_MAX_DELIVER", "0"},
                                                        {"SPINE_BUS_BACKOFF_MULTIPLIER", "0.5"},
                                                        {"SPINE_BUS_BACKOFF_MAX_MS", "10"},
                                                        {"SPINE_BUS_MAX_ACK_DEADLINE_MS", "100"}}) {
    auto [config, status] = Read({{name, value}});
    INFO(name << "=" << value);
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(status.message(), name));
  }
}

TEST_CASE("tasks config: render limits, their defaults and their checks") {
  {
    auto [config, status] = Read({});
    REQUIRE(status.ok());
    CHECK(config.render_limits.max_value_bytes == 1 << 20);
    CHECK(config.render_limits.max_total_bytes == 2 << 20);
  }
  {
    auto [config, status] = Read(
        {{"SPINE_TASKS_RENDER_MAX_VALUE_BYTES", "4096"}, {"SPINE_TASKS_RENDER_MAX_BYTES", "8192"}});
    REQUIRE(status.ok());
    CHECK(config.render_limits.max_value_bytes == 4096);
    CHECK(config.render_limits.max_total_bytes == 8192);
  }
  for (const auto& vars : std::vector<Environment::Vars>{
           {{"SPINE_TASKS_RENDER_MAX_VALUE_BYTES", "0"}},
           {{"SPINE_TASKS_RENDER_MAX_VALUE_BYTES", "many"}},
           {{"SPINE_TASKS_RENDER_MAX_BYTES", "-1"}},
           // The total below one value's cap.
           {{"SPINE_TASKS_RENDER_MAX_VALUE_BYTES", "8192"},
            {"SPINE_TASKS_RENDER_MAX_BYTES", "4096"}},
           // More than half of what one gRPC message to spine-storage may hold.
           {{"SPINE_TASKS_RENDER_MAX_BYTES", "3000000"}}}) {
    auto [config, status] = Read(vars);
    INFO(vars.begin()->first << "=" << vars.begin()->second);
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(status.message(), "SPINE_TASKS_RENDER_MAX"));
  }
}

}  // namespace
}  // namespace spine::tasks
