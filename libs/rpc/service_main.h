// What every service's main.cc shares: config loading with clear errors, the JWT verifier,
// and the serve-until-signal loop with graceful shutdown.
#pragma once

#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "libs/auth/jwt.h"
#include "libs/core/common_config.h"
#include "libs/core/config_reader.h"
#include "libs/core/environment.h"
#include "libs/core/log.h"
#include "libs/rpc/rpc_server.h"

namespace spine::rpc {

// Reads the environment (and .env) and fills the service's config with `read`. On any problem
// writes one log line naming every bad variable and returns nullopt; main then exits 2.
// Otherwise initialises logging for `service` at `config.common.log_level` and logs the
// config, secrets redacted.
template <typename Config>
std::optional<Config> LoadConfig(absl::string_view service,
                                 const std::function<Config(ConfigReader&)>& read);

// The JWT verifier for `common.jwt_public_key_file`, or null when none is configured (dev
// mode only — ReadCommonConfig refuses that otherwise).
absl::StatusOr<std::unique_ptr<JwtVerifier>> LoadJwtVerifier(const CommonConfig& common,
                                                             const Clock& clock);

// Runs a gRPC server for `services` on `address` until SIGTERM/SIGINT, then shuts down
// gracefully. Returns the process exit code (0 after a clean stop).
int ServeUntilSignal(const CommonConfig& common, const std::string& address,
                     const Authenticator& authenticator,
                     const std::vector<grpc::Service*>& services,
                     StatusProbeService::Extras status_extras = nullptr);

// The same for a service with no services of its own yet: loads the JWT verifier itself.
int ServeUntilSignal(const CommonConfig& common, const std::string& address);

// Implementation details below.
// Process-wide settings, before the service takes its first lock: a release build (NDEBUG) turns
// off Abseil's mutex deadlock detection, which Debian's Abseil leaves on in every build and which
// costs a graph update on every lock (~8 % of spine-storage's CPU under load); the debug and
// sanitizer builds keep it, where it finds lock-order inversions.
void InitProcess();
void LogConfigProblem(absl::string_view service, const absl::Status& status);
void LogConfigSummary(const ConfigReader& reader);

template <typename Config>
std::optional<Config> LoadConfig(absl::string_view service,
                                 const std::function<Config(ConfigReader&)>& read) {
  InitProcess();
  absl::StatusOr<Environment> env = Environment::FromProcess();
  if (!env.ok()) {
    LogConfigProblem(service, env.status());
    return std::nullopt;
  }
  ConfigReader reader(*env);
  Config config = read(reader);
  if (absl::Status status = reader.Finish(); !status.ok()) {
    LogConfigProblem(service, status);
    return std::nullopt;
  }
  log::Init(service, config.common.log_level);
  LogConfigSummary(reader);
  return config;
}

}  // namespace spine::rpc
