#include "libs/rpc/service_main.h"

#include "absl/synchronization/mutex.h"
#include "libs/core/status.h"
#include "libs/rpc/signals.h"

namespace spine::rpc {

void InitProcess() {
#ifdef NDEBUG
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
#endif
}

void LogConfigProblem(absl::string_view service, const absl::Status& status) {
  log::Init(service, "info");
  log::Error("refusing to start", {{"error", std::string(status.message())}});
}

void LogConfigSummary(const ConfigReader& reader) {
  log::Fields fields;
  for (const auto& [name, value] : reader.Summary()) {
    fields.emplace_back(name, value);
  }
  log::Info("configuration", fields);
}

absl::StatusOr<std::unique_ptr<JwtVerifier>> LoadJwtVerifier(const CommonConfig& common,
                                                             const Clock& clock) {
  if (common.jwt_public_key_file.empty()) {
    log::Warn("no SPINE_JWT_PUBLIC_KEY_FILE (dev mode): every non-public RPC will be refused");
    return std::unique_ptr<JwtVerifier>();
  }
  // Every key in the file is trusted, so a rotation can list the new key and the old one.
  SPINE_ASSIGN_OR_RETURN(std::vector<Ed25519PublicKey> keys,
                         Ed25519PublicKey::AllFromPemFile(common.jwt_public_key_file));
  return std::make_unique<JwtVerifier>(std::move(keys), clock);
}

int ServeUntilSignal(const CommonConfig& common, const std::string& address,
                     const Authenticator& authenticator,
                     const std::vector<grpc::Service*>& services,
                     StatusProbeService::Extras status_extras) {
  RpcServerOptions options{.service_name = common.service,
                           .address = address,
                           .max_message_bytes = common.max_message_bytes,
                           .shutdown_grace = absl::Milliseconds(common.shutdown_grace_ms)};
  absl::StatusOr<std::unique_ptr<RpcServer>> server = RpcServer::Start(
      options, authenticator, services, RealClock::Instance(), std::move(status_extras));
  if (!server.ok()) {
    log::Error("cannot start", {{"error", std::string(server.status().message())}});
    return 1;
  }
  const int signal_number = WaitForTerminationSignal();
  log::Info("shutting down", {{"signal", std::to_string(signal_number)}});
  (*server)->Shutdown();
  log::Info("stopped");
  return 0;
}

int ServeUntilSignal(const CommonConfig& common, const std::string& address) {
  absl::StatusOr<std::unique_ptr<JwtVerifier>> verifier =
      LoadJwtVerifier(common, RealClock::Instance());
  if (!verifier.ok()) {
    log::Error("refusing to start", {{"error", std::string(verifier.status().message())}});
    return 2;
  }
  const Authenticator authenticator(verifier->get());
  return ServeUntilSignal(common, address, authenticator, {});
}

}  // namespace spine::rpc
