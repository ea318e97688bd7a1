// CommonConfig: the settings every Spine service reads, filled once in main.cc.
#pragma once

#include <cstdint>
#include <string>

#include "libs/core/config_reader.h"

namespace spine {

// Where each service listens (and where the others dial it).
struct ServiceAddresses {
  std::string gateway_http;  // SPINE_GATEWAY_HTTP_ADDR
  std::string gateway_grpc;  // SPINE_GATEWAY_GRPC_ADDR
  std::string storage;       // SPINE_STORAGE_ADDR
  std::string llm;           // SPINE_LLM_ADDR
  std::string plugins;       // SPINE_PLUGINS_ADDR
  std::string tasks;         // SPINE_TASKS_ADDR
};

struct CommonConfig {
  std::string service;              // "storage", "llm", ... (not a setting)
  bool dev_mode = false;            // SPINE_DEV_MODE
  std::string log_level;            // SPINE_LOG_LEVEL
  std::string data_dir;             // SPINE_DATA_DIR
  std::string jwt_public_key_file;  // SPINE_JWT_PUBLIC_KEY_FILE
  ServiceAddresses addresses;
  int64_t shutdown_grace_ms = 0;  // SPINE_SHUTDOWN_GRACE_MS
  int64_t max_message_bytes = 0;  // SPINE_GRPC_MAX_MESSAGE_BYTES
  int64_t rpc_deadline_ms = 0;    // SPINE_RPC_DEADLINE_MS: default deadline of internal calls
};

// Reads the common settings through `reader` (problems are recorded there).
CommonConfig ReadCommonConfig(ConfigReader& reader, std::string service);

// The build's version string, reported by status probes and logs.
inline constexpr char kSpineVersion[] = "0.1.0";

}  // namespace spine
