// GatewayConfig: every setting spine-gateway reads, filled and validated once in main.cc.
#pragma once

#include <cstdint>
#include <string>

#include "libs/core/common_config.h"
#include "libs/core/config_reader.h"
#include "services/gateway/http/cors_policy.h"
#include "services/gateway/rate_limit/client_address.h"

namespace spine::gateway {

struct GatewayConfig {
  CommonConfig common;
  std::string jwt_private_key_file;  // SPINE_JWT_PRIVATE_KEY_FILE
  std::string admin_username;        // SPINE_ADMIN_USERNAME
  std::string admin_password;        // SPINE_ADMIN_PASSWORD or the file SPINE_ADMIN_PASSWORD_FILE
  int64_t http_threads = 0;          // SPINE_HTTP_THREADS
  int64_t http_max_connections = 0;  // SPINE_HTTP_MAX_CONNECTIONS
  int64_t http_max_connections_per_ip = 0;  // SPINE_HTTP_MAX_CONNECTIONS_PER_IP (socket peer)
  int64_t http_max_body_bytes = 0;          // SPINE_HTTP_MAX_BODY_BYTES
  int64_t http_max_header_bytes = 0;        // SPINE_HTTP_MAX_HEADER_BYTES
  int64_t http_read_timeout_ms = 0;         // SPINE_HTTP_READ_TIMEOUT_MS: header and body, each
  int64_t readiness_timeout_ms = 0;    // SPINE_READINESS_TIMEOUT_MS: per health check in /readyz
  int64_t rate_limit_per_minute = 0;   // SPINE_RATE_LIMIT_PER_MINUTE: bucket size and refill/min
  int64_t rate_limit_max_clients = 0;  // SPINE_RATE_LIMIT_MAX_CLIENTS: limiter table capacity
  TrustedProxies trusted_proxies{};    // SPINE_TRUSTED_PROXIES: CIDRs whose X-Forwarded-For counts
  CorsPolicy cors{};                   // SPINE_CORS_ORIGINS: browser origins allowed (none)
};

GatewayConfig ReadGatewayConfig(ConfigReader& reader);

}  // namespace spine::gateway
