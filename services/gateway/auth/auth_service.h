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
#include "spine/v1/auth.grpc.pb.h"

namespace spine::gateway {

using AuthServiceBase = spine::v1::AuthService::WithCallbackMethod_Login<
    spine::v1::AuthService::WithCallbackMethod_CreateUser<spine::v1::AuthService::Service>>;

class AuthService final : public AuthServiceBase {
 public:
  AuthService(const AuthLogic& logic, WorkerPool& pool, const rpc::Authenticator& authenticator)
      : logic_(logic), pool_(pool), authenticator_(authenticator) {}

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

  const AuthLogic& logic_;
  WorkerPool& pool_;
  const rpc::Authenticator& authenticator_;
};

}  // namespace spine::gateway
