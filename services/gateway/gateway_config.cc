#include "services/gateway/gateway_config.h"

#include <arpa/inet.h>

#include "absl/strings/str_cat.h"

namespace spine::gateway {
namespace {

// The HTTP listener binds an IP literal (no name resolution at start).
bool IsIpLiteralHost(const std::string& address) {
  std::string host = address.substr(0, address.rfind(':'));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  unsigned char buffer[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, host.c_str(), buffer) == 1;
}

}  // namespace

GatewayConfig ReadGatewayConfig(ConfigReader& reader) {
  GatewayConfig config;
  config.common = ReadCommonConfig(reader, "gateway");
  config.jwt_private_key_file = reader.SecretFile("SPINE_JWT_PRIVATE_KEY_FILE");
  config.admin_username = reader.String("SPINE_ADMIN_USERNAME", "admin");
  // API.md: passwords are 12..128 characters.
  config.admin_password = reader.SecretOrFile("SPINE_ADMIN_PASSWORD", 12);
  if (config.admin_password.size() > 128) {
    reader.AddProblem("SPINE_ADMIN_PASSWORD=<redacted>: at most 128 characters");
  }
  if (!IsIpLiteralHost(config.common.addresses.gateway_http)) {
    reader.AddProblem(absl::StrCat("SPINE_GATEWAY_HTTP_ADDR=", config.common.addresses.gateway_http,
                                   ": the host must be an IP address (e.g. 127.0.0.1 or [::1])"));
  }
  config.http_threads = reader.Int("SPINE_HTTP_THREADS", 2, 1, 64);
  config.http_max_connections = reader.Int("SPINE_HTTP_MAX_CONNECTIONS", 1024, 1, 100000);
  config.http_max_connections_per_ip =
      reader.Int("SPINE_HTTP_MAX_CONNECTIONS_PER_IP", 64, 1, 100000);
  config.http_max_body_bytes = reader.Int("SPINE_HTTP_MAX_BODY_BYTES", 1 << 20, 1024, 64 << 20);
  config.http_max_header_bytes = reader.Int("SPINE_HTTP_MAX_HEADER_BYTES", 16 << 10, 1024, 1 << 20);
  config.http_read_timeout_ms = reader.Int("SPINE_HTTP_READ_TIMEOUT_MS", 10000, 100, 600000);
  config.readiness_timeout_ms = reader.Int("SPINE_READINESS_TIMEOUT_MS", 1000, 10, 60000);
  config.rate_limit_per_minute = reader.Int("SPINE_RATE_LIMIT_PER_MINUTE", 100, 1, 1'000'000);
  config.rate_limit_max_clients =
      reader.Int("SPINE_RATE_LIMIT_MAX_CLIENTS", 65536, 1024, int64_t{1} << 24);
  const std::string proxies = reader.String("SPINE_TRUSTED_PROXIES", "");
  absl::StatusOr<TrustedProxies> trusted = TrustedProxies::Parse(proxies);
  if (trusted.ok()) {
    config.trusted_proxies = *std::move(trusted);
  } else {
    reader.AddProblem(
        absl::StrCat("SPINE_TRUSTED_PROXIES=", proxies, ": ", trusted.status().message()));
  }
  const std::string origins = reader.String("SPINE_CORS_ORIGINS", "");
  absl::StatusOr<CorsPolicy> cors = CorsPolicy::Parse(origins);
  if (cors.ok()) {
    config.cors = *std::move(cors);
  } else {
    reader.AddProblem(
        absl::StrCat("SPINE_CORS_ORIGINS=", origins.substr(0, 200), ": ", cors.status().message()));
  }
  return config;
}

}  // namespace spine::gateway
