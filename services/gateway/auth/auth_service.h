// AuthService: the gRPC face of AuthLogic (auth.proto), served on the gateway's gRPC address and,
// through the transcoder, under /api/auth and /api/users.
//
// Login and CreateUser each run one scrypt derivation (~100 ms of CPU), so they use the callback
// API: the handler only authenticates and queues the call on a bounded WorkerPool, and the pool
// thread finishes the reactor. No gRPC thread waits on a hash, and a burst of logins beyond the
// pool's queue is refused at once (UNAVAILABLE) instead of piling up 32 MiB scrypt states. The
// other four methods only make short storage calls with deadlines, which is what the sync
// handler threads are for, so they stay synchronous.
//
// Thread-safe; `logic`, `pool` and `authenticator` must outlive the server the service is
// registered with, and the pool must be shut down only after that server (it finishes the
// reactors of calls in flight).
#pragma once

#include <functional>

#include "absl/status/status.h"
#include "libs/core/worker_pool.h"
#include "libs/rpc/caller.h"
#include "services/gateway/auth/auth_logic.h"
#include "services/gateway/auth/edge_identity.h"
#include "services/gateway/auth/session_gate.h"
#include "services/gateway/auth/session_revocations.h"
#include "services/gateway/rate_limit/rate_limiter.h"
#include "spine/v1/auth.grpc.pb.h"

namespace spine::gateway {

using AuthServiceBase = spine::v1::AuthService::WithCallbackMethod_Login<
    spine::v1::AuthService::WithCallbackMethod_CreateUser<spine::v1::AuthService::Service>>;

// What AuthService checks beyond the Authenticator; all optional and borrowed.
struct AuthServiceGuards {
  // Every call from a direct gRPC client takes a token from its peer address's bucket (the HTTP
  // edge's calls were counted there already): RESOURCE_EXHAUSTED with reason RATE_LIMITED and
  // metadata retryAfterSeconds when it is empty. Null: no limit.
  RateLimiter* limiter = nullptr;
  // Recognises the HTTP edge's calls and the client they carry (for the limit and the lockout).
  // Null: every call is known by its gRPC peer.
  const EdgeIdentity* edge = nullptr;
  // A caller's token must still stand (not revoked, user exists); logout revokes it. Both null:
  // tokens live out their lifetime.
  const SessionGate* gate = nullptr;
  SessionRevocations* revocations = nullptr;
  const JwtVerifier* verifier = nullptr;  // reads the caller's jti and exp
};

class AuthService final : public AuthServiceBase {
 public:
  AuthService(const AuthLogic& logic, WorkerPool& pool, const rpc::Authenticator& authenticator,
              AuthServiceGuards guards = {})
      : logic_(logic), pool_(pool), authenticator_(authenticator), guards_(guards) {}

  grpc::ServerUnaryReactor* Login(grpc::CallbackServerContext* context,
                                  const spine::v1::LoginRequest* request,
                                  spine::v1::SessionTokens* response) override;
  grpc::ServerUnaryReactor* CreateUser(grpc::CallbackServerContext* context,
                                       const spine::v1::CreateUserRequest* request,
                                       spine::v1::User* response) override;
  grpc::Status Refresh(grpc::ServerContext* context, const spine::v1::RefreshRequest* request,
                       spine::v1::SessionTokens* response) override;
  grpc::Status Logout(grpc::ServerContext* context, const spine::v1::LogoutRequest* request,
                      google::protobuf::Empty* response) override;
  grpc::Status GetMe(grpc::ServerContext* context, const spine::v1::GetMeRequest* request,
                     spine::v1::User* response) override;
  grpc::Status ListUsers(grpc::ServerContext* context, const spine::v1::ListUsersRequest* request,
                         spine::v1::ListUsersResponse* response) override;

 private:
  // Queues `work` on the pool; the reactor is finished with its result from the pool thread, or
  // at once with UNAVAILABLE when the pool refuses it. `what` names the work in that message.
  grpc::ServerUnaryReactor* RunOnPool(grpc::CallbackServerContext* context, const char* what,
                                      std::function<absl::Status()> work);

  // Who is calling (the edge's client or the gRPC peer).
  CallClient ClientOf(const grpc::ServerContextBase& context) const;
  // The rate limit for `client`; OK for the edge's calls.
  absl::Status Admit(const CallClient& client) const;
  // Authenticates the call and checks that the caller's token still stands.
  absl::StatusOr<rpc::Caller> Authenticate(const grpc::ServerContextBase& context) const;

  const AuthLogic& logic_;
  WorkerPool& pool_;
  const rpc::Authenticator& authenticator_;
  const AuthServiceGuards guards_;
};

}  // namespace spine::gateway
