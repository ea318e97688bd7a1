#include "services/plugins/plugins_config.h"

#include "absl/strings/str_cat.h"

namespace spine::plugins {
namespace {

// One limit: its default and its ceiling, the default checked against the ceiling.
void ReadLimit(ConfigReader& reader, const char* default_name, const char* max_name,
               int64_t default_value, int64_t ceiling, int64_t hard_max, int32_t* out_default,
               int32_t* out_max) {
  const int64_t max = reader.Int(max_name, ceiling, 1, hard_max);
  const int64_t def = reader.Int(default_name, default_value, 1, hard_max);
  if (def > max) {
    reader.AddProblem(absl::StrCat(default_name, "=", def, ": above ", max_name, "=", max));
  }
  *out_default = static_cast<int32_t>(def);
  *out_max = static_cast<int32_t>(max);
}

}  // namespace

PluginsConfig ReadPluginsConfig(ConfigReader& reader) {
  PluginsConfig config;
  config.common = ReadCommonConfig(reader, "plugins");
  config.plugins_dir = reader.String("SPINE_PLUGINS_DIR", "plugins");
  config.node_binary = reader.String("SPINE_PLUGINS_NODE", "/usr/bin/node");
  ManifestBounds& b = config.bounds;
  ReadLimit(reader, "SPINE_PLUGINS_DEFAULT_TIMEOUT_MS", "SPINE_PLUGINS_MAX_TIMEOUT_MS", 5000, 60000,
            600000, &b.defaults.timeout_ms, &b.ceilings.timeout_ms);
  ReadLimit(reader, "SPINE_PLUGINS_DEFAULT_MEMORY_MB", "SPINE_PLUGINS_MAX_MEMORY_MB", 128, 1024,
            16384, &b.defaults.memory_mb, &b.ceilings.memory_mb);
  ReadLimit(reader, "SPINE_PLUGINS_DEFAULT_CPU_SECONDS", "SPINE_PLUGINS_MAX_CPU_SECONDS", 10, 60,
            3600, &b.defaults.cpu_seconds, &b.ceilings.cpu_seconds);
  ReadLimit(reader, "SPINE_PLUGINS_DEFAULT_MAX_OUTPUT_KB", "SPINE_PLUGINS_MAX_MAX_OUTPUT_KB", 256,
            4096, 65536, &b.defaults.max_output_kb, &b.ceilings.max_output_kb);
  ReadLimit(reader, "SPINE_PLUGINS_DEFAULT_CONCURRENCY", "SPINE_PLUGINS_MAX_CONCURRENCY", 2, 16,
            256, &b.defaults.concurrency, &b.ceilings.concurrency);
  b.data_dir = config.common.data_dir + "/plugins";
  b.data_quota_bytes =
      static_cast<uint64_t>(reader.Int("SPINE_PLUGINS_DATA_QUOTA_MB", 64, 1, 1048576)) << 20;
  config.queue_limit = reader.Int("SPINE_PLUGINS_QUEUE_LIMIT", 64, 0, 100000);
  config.user_queue_limit = reader.Int("SPINE_PLUGINS_USER_QUEUE_LIMIT", 16, 0, 100000);
  config.recycle_after = reader.Int("SPINE_PLUGINS_RECYCLE_AFTER", 1000, 1, 100000000);
  config.idle_cpu_budget_ms = reader.Int("SPINE_PLUGINS_IDLE_CPU_BUDGET_MS", 200, 0, 3600000);
  config.breaker_crashes = reader.Int("SPINE_PLUGINS_BREAKER_CRASHES", 5, 1, 1000000);
  config.breaker_window_ms = reader.Int("SPINE_PLUGINS_BREAKER_WINDOW_MS", 60000, 1, 86400000);
  config.breaker_open_ms = reader.Int("SPINE_PLUGINS_BREAKER_OPEN_MS", 30000, 1, 86400000);
  config.breaker_users = reader.Int("SPINE_PLUGINS_BREAKER_USERS", 3, 1, 1000000);
  config.self_test_interval_ms =
      reader.Int("SPINE_PLUGINS_SELF_TEST_INTERVAL_MS", 10000, 100, 3600000);
  config.accept_weaker_sandbox = reader.Bool("SPINE_PLUGINS_ACCEPT_WEAKER_SANDBOX", false);
  // The audit log (spine-storage) and the event bus (spine-tasks) are reached with this token.
  config.service_token = reader.SecretOrFile("SPINE_SERVICE_TOKEN", 32);
  config.step_concurrency = reader.Int("SPINE_PLUGINS_STEP_CONCURRENCY", 16, 1, 1024);
  return config;
}

}  // namespace spine::plugins
