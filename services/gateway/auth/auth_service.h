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
#include "services/gateway/auth/api_keys.h"
#include "services/gateway/auth/audit_events.h"
#include "services/gateway/auth/auth_logic.h"
#include "services/gateway/auth/edge_identity.h"
#include "services/gateway/auth/session_gate.h"
#include "services/gateway/auth/session_revocations.h"
#include "services/gateway/rate_limit/rate_limiter.h"
#include "spine/v1/auth.grpc.pb.h"

namespace spine::gateway {

// The methods that hash passwords (scrypt) use the callback API and run on the pool.
using AuthServiceBase = spine::v1::AuthService::WithCallbackMethod_Login<
    spine::v1::AuthService::WithCallbackMethod_CreateUser<
        spine::v1::AuthService::WithCallbackMethod_ChangePassword<
            spine::v1::AuthService::WithCallbackMethod_ResetPassword<
                spine::v1::AuthService::Service>>>>;

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
  // Authentication events go here (audit_events.h). Null: not recorded.
  const AuthAudit* audit = nullptr;
  // Told of revoked keys, so they stop at once at this gateway's edge. Null: none.
  const ApiKeyGate* api_keys = nullptr;
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
  grpc::ServerUnaryReactor* ChangePassword(grpc::CallbackServerContext* context,
                                           const spine::v1::ChangePasswordRequest* request,
                                           google::protobuf::Empty* response) override;
  grpc::ServerUnaryReactor* ResetPassword(grpc::CallbackServerContext* context,
                                          const spine::v1::ResetPasswordRequest* request,
                                          google::protobuf::Empty* response) override;
  grpc::Status SetUserRole(grpc::ServerContext* context,
                           const spine::v1::SetUserRoleRequest* request,
                           spine::v1::User* response) override;
  grpc::Status DisableUser(grpc::ServerContext* context, const spine::v1::UserIdRequest* request,
                           spine::v1::User* response) override;
  grpc::Status EnableUser(grpc::ServerContext* context, const spine::v1::UserIdRequest* request,
                          spine::v1::User* response) override;
  grpc::Status DeleteUser(grpc::ServerContext* context, const spine::v1::DeleteUserRequest* request,
                          google::protobuf::Empty* response) override;
  grpc::Status CreateApiKey(grpc::ServerContext* context,
                            const spine::v1::CreateApiKeyRequest* request,
                            spine::v1::CreatedApiKey* response) override;
  grpc::Status ListApiKeys(grpc::ServerContext* context,
                           const spine::v1::ListApiKeysRequest* request,
                           spine::v1::ListApiKeysResponse* response) override;
  grpc::Status RevokeApiKey(grpc::ServerContext* context,
                            const spine::v1::RevokeApiKeyRequest* request,
                            google::protobuf::Empty* response) override;

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
  // Records `event` with the call's request id, and its client address when `with_client`.
  void Audit(const grpc::ServerContextBase& context, AuthEvent event,
             bool with_client = false) const;
  // The key owner a caller names: itself for 0 or its own id; anyone for an admin; else
  // PERMISSION_DENIED.
  static absl::StatusOr<int64_t> OwnerFor(const rpc::Caller& caller, int64_t requested);
  // A user change by an admin (role, disable, enable), audited as `action`.
  grpc::Status ChangeUser(grpc::ServerContext* context, int64_t id, const std::string& action,
                          const std::function<absl::StatusOr<AuthUser>()>& change,
                          spine::v1::User* response);

  const AuthLogic& logic_;
  WorkerPool& pool_;
  const rpc::Authenticator& authenticator_;
  const AuthServiceGuards guards_;
};

}  // namespace spine::gateway
