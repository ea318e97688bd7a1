#include "services/gateway/gateway_config.h"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"

namespace spine::gateway {
namespace {

constexpr size_t kMinAdminPasswordLength = 12;  // API.md: passwords are 12..128 characters

std::string ReadAdminPassword(ConfigReader& reader) {
  const std::string file = reader.String("SPINE_ADMIN_PASSWORD_FILE", "");
  if (file.empty()) return reader.Secret("SPINE_ADMIN_PASSWORD", kMinAdminPasswordLength);
  std::ifstream in(file);
  if (!in) {
    reader.AddProblem("SPINE_ADMIN_PASSWORD_FILE=" + file + ": cannot read the file");
    return "";
  }
  std::stringstream contents;
  contents << in.rdbuf();
  std::string password(absl::StripTrailingAsciiWhitespace(contents.str()));
  if (password.size() < kMinAdminPasswordLength) {
    reader.AddProblem("SPINE_ADMIN_PASSWORD_FILE=" + file +
                      ": the password must be at least 12 characters");
  }
  return password;
}

}  // namespace

GatewayConfig ReadGatewayConfig(ConfigReader& reader) {
  GatewayConfig config;
  config.common = ReadCommonConfig(reader, "gateway");
  config.jwt_private_key_file = reader.SecretFile("SPINE_JWT_PRIVATE_KEY_FILE");
  config.admin_username = reader.String("SPINE_ADMIN_USERNAME", "admin");
  config.admin_password = ReadAdminPassword(reader);
  config.http_threads = reader.Int("SPINE_HTTP_THREADS", 2, 1, 64);
  config.http_max_connections = reader.Int("SPINE_HTTP_MAX_CONNECTIONS", 1024, 1, 100000);
  config.http_max_body_bytes = reader.Int("SPINE_HTTP_MAX_BODY_BYTES", 1 << 20, 1024, 64 << 20);
  config.http_max_header_bytes = reader.Int("SPINE_HTTP_MAX_HEADER_BYTES", 16 << 10, 1024, 1 << 20);
  config.http_read_timeout_ms = reader.Int("SPINE_HTTP_READ_TIMEOUT_MS", 10000, 100, 600000);
  config.readiness_timeout_ms = reader.Int("SPINE_READINESS_TIMEOUT_MS", 1000, 10, 60000);
  return config;
}

}  // namespace spine::gateway
