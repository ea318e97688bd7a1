// PluginsConfig: every setting spine-plugins reads, filled and validated once in main.cc.
#pragma once

#include <cstdint>
#include <string>

#include "libs/core/common_config.h"
#include "libs/core/config_reader.h"
#include "services/plugins/host/manifest.h"

namespace spine::plugins {

struct PluginsConfig {
  CommonConfig common;
  std::string plugins_dir{};  // SPINE_PLUGINS_DIR: one folder per plugin
  std::string node_binary{};  // SPINE_PLUGINS_NODE: the Node.js the workers run
  // SPINE_PLUGINS_DEFAULT_* and SPINE_PLUGINS_MAX_*: what a manifest's limits default to and may
  // ask for at most; the data dir plugins may write under is SPINE_DATA_DIR/plugins, each
  // plugin's part of it at most SPINE_PLUGINS_DATA_QUOTA_MB.
  ManifestBounds bounds{};
  int64_t queue_limit = 0;         // SPINE_PLUGINS_QUEUE_LIMIT: waiting invocations per plugin
  int64_t user_queue_limit = 0;    // SPINE_PLUGINS_USER_QUEUE_LIMIT: ... per user and plugin
  int64_t recycle_after = 0;       // SPINE_PLUGINS_RECYCLE_AFTER: invocations per worker
  int64_t idle_cpu_budget_ms = 0;  // SPINE_PLUGINS_IDLE_CPU_BUDGET_MS: CPU a worker may use idle
  int64_t breaker_crashes = 0;     // SPINE_PLUGINS_BREAKER_CRASHES: crashes that open the circuit
  int64_t breaker_window_ms = 0;   // SPINE_PLUGINS_BREAKER_WINDOW_MS: ... within this window
  int64_t breaker_open_ms = 0;     // SPINE_PLUGINS_BREAKER_OPEN_MS: how long it stays open
  int64_t breaker_users = 0;       // SPINE_PLUGINS_BREAKER_USERS: users whose crashes open it
  int64_t self_test_interval_ms = 0;  // SPINE_PLUGINS_SELF_TEST_INTERVAL_MS
  // SPINE_PLUGINS_ACCEPT_WEAKER_SANDBOX: run plugins even when the kernel refuses the workers'
  // namespaces (the self-test fails otherwise); every other layer stays required.
  bool accept_weaker_sandbox = false;
  std::string service_token{};   // SPINE_SERVICE_TOKEN or the file SPINE_SERVICE_TOKEN_FILE
  int64_t step_concurrency = 0;  // SPINE_PLUGINS_STEP_CONCURRENCY: pipeline steps at once
};

PluginsConfig ReadPluginsConfig(ConfigReader& reader);

}  // namespace spine::plugins
