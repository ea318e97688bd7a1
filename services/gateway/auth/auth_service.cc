#include "services/gateway/auth/auth_service.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/core/status.h"
#include "libs/rpc/error_info.h"
#include "libs/rpc/status_convert.h"

namespace spine::gateway {
namespace {

void ToProto(const SessionTokens& tokens, spine::v1::SessionTokens* out) {
  out->set_access_token(tokens.access_token);
  out->set_token_type(tokens.token_type);
  out->set_expires_in(tokens.expires_in);
  out->set_refresh_token(tokens.refresh_token);
  out->set_refresh_expires_in(tokens.refresh_expires_in);
}

void ToProto(const AuthUser& user, spine::v1::User* out) {
  out->set_id(user.id);
  out->set_username(user.username);
  out->set_role(user.role);
}

grpc::ServerUnaryReactor* FinishNow(grpc::CallbackServerContext* context,
                                    const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(rpc::ToGrpcStatus(status));
  return reactor;
}

std::string MetadataValue(const grpc::ServerContextBase& context, const char* name) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find(name);
  return it == metadata.end() ? std::string() : std::string(it->second.data(), it->second.size());
}

}  // namespace

CallClient AuthService::ClientOf(const grpc::ServerContextBase& context) const {
  if (guards_.edge == nullptr) return CallClient{.address = IpOfGrpcPeer(context.peer())};
  return guards_.edge->ClientOf(context.peer(), MetadataValue(context, kClientIpMetadata),
                                MetadataValue(context, kEdgeKeyMetadata));
}

absl::Status AuthService::Admit(const CallClient& client) const {
  if (guards_.limiter == nullptr || client.via_edge) return absl::OkStatus();
  // A peer without an IP address (in-process, unix socket) shares one bucket.
  const IpAddress address = client.address.value_or(IpAddress::V4({0, 0, 0, 0}));
  const RateLimiter::Decision decision = guards_.limiter->Admit(ClientKey::For(address));
  if (decision.allowed) return absl::OkStatus();
  return rpc::WithErrorInfo(
      absl::ResourceExhaustedError(absl::StrCat(
          "rate limit of ", guards_.limiter->requests_per_minute(),
          " requests per minute exceeded; retry in ", decision.retry_after_seconds, " s")),
      "RATE_LIMITED", {{"retryAfterSeconds", absl::StrCat(decision.retry_after_seconds)}});
}

absl::StatusOr<rpc::Caller> AuthService::Authenticate(
    const grpc::ServerContextBase& context) const {
  SPINE_RETURN_IF_ERROR(Admit(ClientOf(context)));
  SPINE_ASSIGN_OR_RETURN(rpc::Caller caller, authenticator_.Authenticate(context));
  if (caller.user_id.empty() || guards_.gate == nullptr || guards_.verifier == nullptr) {
    return caller;
  }
  SPINE_ASSIGN_OR_RETURN(const AccessClaims claims, guards_.verifier->Verify(caller.bearer_token));
  SPINE_RETURN_IF_ERROR(guards_.gate->CheckNow(claims));
  return caller;
}

grpc::ServerUnaryReactor* AuthService::RunOnPool(grpc::CallbackServerContext* context,
                                                 const char* what,
                                                 std::function<absl::Status()> work) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  // The request and response stay valid until Finish, so the task may use them.
  const absl::Status queued = pool_.Submit([context, reactor, work = std::move(work)] {
    // A client that gave up while the call waited in the queue does not get a hash computed.
    if (context->IsCancelled()) {
      reactor->Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the call was cancelled"));
      return;
    }
    reactor->Finish(rpc::ToGrpcStatus(work()));
  });
  if (!queued.ok()) {
    const bool shutting_down = absl::IsFailedPrecondition(queued);
    reactor->Finish(rpc::ToGrpcStatus(absl::UnavailableError(
        shutting_down ? "the gateway is shutting down"
                      : absl::StrCat(what,
                                     ": too many password checks in progress; retry in a "
                                     "moment"))));
  }
  return reactor;
}

grpc::ServerUnaryReactor* AuthService::Login(grpc::CallbackServerContext* context,
                                             const spine::v1::LoginRequest* request,
                                             spine::v1::SessionTokens* response) {
  if (auto caller = Authenticate(*context); !caller.ok()) {
    return FinishNow(context, caller.status());
  }
  // Failed logins count per client (auth_logic.h), by the key the rate limit uses.
  const CallClient client = ClientOf(*context);
  std::string client_key = client.address ? ClientKey::For(*client.address).ToString() : "";
  return RunOnPool(context, "login",
                   [this, request, response, client_key = std::move(client_key)]() -> absl::Status {
                     absl::StatusOr<SessionTokens> tokens =
                         logic_.Login(request->username(), request->password(), client_key);
                     if (!tokens.ok()) return tokens.status();
                     ToProto(*tokens, response);
                     return absl::OkStatus();
                   });
}

grpc::ServerUnaryReactor* AuthService::CreateUser(grpc::CallbackServerContext* context,
                                                  const spine::v1::CreateUserRequest* request,
                                                  spine::v1::User* response) {
  // The Authenticator enforces ACCESS_ADMIN from the RPC's option.
  if (auto caller = Authenticate(*context); !caller.ok()) {
    return FinishNow(context, caller.status());
  }
  return RunOnPool(context, "createUser", [this, request, response]() -> absl::Status {
    absl::StatusOr<AuthUser> user =
        logic_.CreateUser(request->username(), request->password(), request->role());
    if (!user.ok()) return user.status();
    ToProto(*user, response);
    return absl::OkStatus();
  });
}

grpc::Status AuthService::Refresh(grpc::ServerContext* context,
                                  const spine::v1::RefreshRequest* request,
                                  spine::v1::SessionTokens* response) {
  if (auto caller = Authenticate(*context); !caller.ok()) {
    return rpc::ToGrpcStatus(caller.status());
  }
  absl::StatusOr<SessionTokens> tokens = logic_.Refresh(request->refresh_token());
  if (!tokens.ok()) return rpc::ToGrpcStatus(tokens.status());
  ToProto(*tokens, response);
  return grpc::Status::OK;
}

grpc::Status AuthService::Logout(grpc::ServerContext* context,
                                 const spine::v1::LogoutRequest* request,
                                 google::protobuf::Empty* /*response*/) {
  absl::StatusOr<rpc::Caller> caller = Authenticate(*context);
  if (!caller.ok()) return rpc::ToGrpcStatus(caller.status());
  const absl::Status status = logic_.Logout(request->refresh_token());
  // The access token presented dies with the session, whichever family the refresh token is of.
  if (status.ok() && guards_.revocations != nullptr && guards_.verifier != nullptr) {
    if (absl::StatusOr<AccessClaims> claims = guards_.verifier->Verify(caller->bearer_token);
        claims.ok()) {
      guards_.revocations->RevokeToken(claims->jti, claims->exp);
    }
  }
  return rpc::ToGrpcStatus(status);
}

grpc::Status AuthService::GetMe(grpc::ServerContext* context,
                                const spine::v1::GetMeRequest* /*request*/,
                                spine::v1::User* response) {
  absl::StatusOr<rpc::Caller> caller = Authenticate(*context);
  if (!caller.ok()) return rpc::ToGrpcStatus(caller.status());
  absl::StatusOr<AuthUser> user = logic_.GetMe(caller->user_id);
  if (!user.ok()) return rpc::ToGrpcStatus(user.status());
  ToProto(*user, response);
  return grpc::Status::OK;
}

grpc::Status AuthService::ListUsers(grpc::ServerContext* context,
                                    const spine::v1::ListUsersRequest* /*request*/,
                                    spine::v1::ListUsersResponse* response) {
  if (auto caller = Authenticate(*context); !caller.ok()) {
    return rpc::ToGrpcStatus(caller.status());
  }
  absl::StatusOr<std::vector<AuthUser>> users = logic_.ListUsers();
  if (!users.ok()) return rpc::ToGrpcStatus(users.status());
  for (const AuthUser& user : *users) ToProto(user, response->add_users());
  return grpc::Status::OK;
}

}  // namespace spine::gateway
