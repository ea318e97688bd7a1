// AuthComponent: builds and owns everything behind the gateway's AuthService — the signing key,
// the service token for storage, the storage-backed UserStore, AuthLogic, the password-hashing
// WorkerPool, the gRPC service and the first-admin bootstrap — so main.cc only registers the
// service and shuts the component down.
//
// Thread-safety: Create and Shutdown from main's thread; service() is served from gRPC threads.
#pragma once

#include <cstddef>
#include <memory>

#include "absl/status/statusor.h"
#include "libs/audit/storage_audit_writer.h"
#include "libs/auth/jwt.h"
#include "libs/core/clock.h"
#include "libs/core/worker_pool.h"
#include "libs/rpc/caller.h"
#include "services/gateway/auth/api_keys.h"
#include "services/gateway/auth/audit_events.h"
#include "services/gateway/auth/auth_logic.h"
#include "services/gateway/auth/auth_service.h"
#include "services/gateway/auth/edge_identity.h"
#include "services/gateway/auth/first_admin.h"
#include "services/gateway/auth/service_token_source.h"
#include "services/gateway/auth/session_gate.h"
#include "services/gateway/auth/session_revocations.h"
#include "services/gateway/auth/storage_user_store.h"
#include "services/gateway/gateway_config.h"
#include "services/gateway/rate_limit/rate_limiter.h"

namespace spine::gateway {

// Password hashing: two threads (this machine has two cores; scrypt is CPU-bound) and room for
// 32 waiting logins, about 1.6 s of work at ~100 ms each — beyond that a login is refused at once.
inline constexpr int kPasswordHashThreads = 2;
inline constexpr size_t kPasswordHashQueue = 32;
// Session checks that must ask storage whether a token's user exists (a cache miss, at most once
// per user per few seconds): short blocking calls, off the I/O threads.
inline constexpr int kSessionCheckThreads = 2;
inline constexpr size_t kSessionCheckQueue = 256;

class AuthComponent {
 public:
  // Loads the signing key from config.jwt_private_key_file (which must be set) and starts the
  // first-admin bootstrap. `clock`, `authenticator`, `verifier`, `edge` and `limiter` (optional:
  // no limit on direct gRPC calls) must outlive the component.
  static absl::StatusOr<std::unique_ptr<AuthComponent>> Create(
      const GatewayConfig& config, const Clock& clock, const rpc::Authenticator& authenticator,
      const JwtVerifier& verifier, const EdgeIdentity& edge, RateLimiter* limiter);
  ~AuthComponent();

  // The service to register with the gateway's RpcServer.
  grpc::Service* service() { return service_.get(); }
  // Whether an access token still stands (not revoked, user exists), for the HTTP edge.
  const SessionGate* session_gate() const { return gate_.get(); }
  // Turns API keys into access tokens at the HTTP edge.
  const ApiKeyGate* api_key_gate() const { return api_keys_.get(); }
  // Whether the configured first admin exists (or is known to), for /readyz; true when none is
  // configured. Never blocks.
  bool FirstAdminReady() const { return first_admin_ == nullptr || first_admin_->AdminExists(); }

  // Stops the bootstrap and drains the pool. Call after the gRPC server has shut down: calls in
  // flight are finished by pool threads. Idempotent.
  void Shutdown();

 private:
  AuthComponent() = default;

  std::unique_ptr<JwtSigner> signer_;
  std::unique_ptr<ServiceTokenSource> service_tokens_;
  std::unique_ptr<StorageUserStore> store_;
  std::unique_ptr<SessionRevocations> revocations_;
  std::unique_ptr<audit::StorageAuditWriter> audit_writer_;
  std::unique_ptr<AuthAudit> audit_;
  std::unique_ptr<AuthLogic> logic_;
  std::unique_ptr<WorkerPool> pool_;
  std::unique_ptr<WorkerPool> gate_pool_;  // user lookups for the HTTP edge's session checks
  std::unique_ptr<SessionGate> gate_;
  std::unique_ptr<ApiKeyGate> api_keys_;
  std::unique_ptr<AuthService> service_;
  std::unique_ptr<FirstAdminBootstrap> first_admin_;
};

}  // namespace spine::gateway
