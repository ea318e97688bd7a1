#include "libs/core/common_config.h"

namespace spine {

CommonConfig ReadCommonConfig(ConfigReader& reader, std::string service) {
  CommonConfig config;
  config.service = std::move(service);
  config.dev_mode = reader.dev_mode();
  config.log_level =
      reader.OneOf("SPINE_LOG_LEVEL", "info", {"trace", "debug", "info", "warn", "error", "off"});
  config.data_dir = reader.String("SPINE_DATA_DIR", "./.spine");
  if (config.data_dir.empty()) reader.AddProblem("SPINE_DATA_DIR=: must not be empty");
  config.jwt_public_key_file = reader.SecretFile("SPINE_JWT_PUBLIC_KEY_FILE");
  config.addresses.gateway_http = reader.Address("SPINE_GATEWAY_HTTP_ADDR", "127.0.0.1:8080");
  config.addresses.gateway_grpc = reader.Address("SPINE_GATEWAY_GRPC_ADDR", "127.0.0.1:50050");
  config.addresses.storage = reader.Address("SPINE_STORAGE_ADDR", "127.0.0.1:50051");
  config.addresses.llm = reader.Address("SPINE_LLM_ADDR", "127.0.0.1:50052");
  config.addresses.plugins = reader.Address("SPINE_PLUGINS_ADDR", "127.0.0.1:50053");
  config.addresses.tasks = reader.Address("SPINE_TASKS_ADDR", "127.0.0.1:50054");
  config.shutdown_grace_ms = reader.Int("SPINE_SHUTDOWN_GRACE_MS", 5000, 0, 60000);
  config.max_message_bytes = reader.Int("SPINE_GRPC_MAX_MESSAGE_BYTES", 4 << 20, 1 << 16, 64 << 20);
  config.rpc_deadline_ms = reader.Int("SPINE_RPC_DEADLINE_MS", 5000, 10, 600000);
  return config;
}

}  // namespace spine
