#include "services/gateway/auth/auth_service.h"

#include <string>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "libs/core/status.h"
#include "libs/rpc/error_info.h"
#include "libs/rpc/request_id.h"
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
  out->set_disabled(user.disabled);
}

google::protobuf::Timestamp Timestamp(absl::Time time) {
  return google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(time));
}

void ToProto(const ApiKeyRecord& key, spine::v1::ApiKey* out) {
  out->set_id(key.id);
  out->set_user_id(key.user_id);
  out->set_name(key.name);
  out->set_scope(key.scope);
  out->set_prefix(key.prefix);
  *out->mutable_create_time() = Timestamp(key.create_time);
  *out->mutable_expire_time() = Timestamp(key.expire_time);
  if (key.last_use_time) *out->mutable_last_use_time() = Timestamp(*key.last_use_time);
  if (key.revoke_time) *out->mutable_revoke_time() = Timestamp(*key.revoke_time);
}

std::string Outcome(const absl::Status& status) {
  if (status.ok()) return "ok";
  const absl::StatusCode code = status.code();
  const bool denied =
      code == absl::StatusCode::kUnauthenticated || code == absl::StatusCode::kPermissionDenied ||
      code == absl::StatusCode::kResourceExhausted || code == absl::StatusCode::kAborted;
  return denied ? "denied" : "error";
}

std::string UserTarget(int64_t id) { return absl::StrCat("user:", id); }

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

void AuthService::Audit(const grpc::ServerContextBase& context, AuthEvent event,
                        bool with_client) const {
  if (guards_.audit == nullptr) return;
  event.request_id = rpc::RequestIdOf(context);
  if (with_client) {
    const CallClient client = ClientOf(context);
    event.details.emplace_back("clientIp", client.address ? client.address->ToString() : "");
  }
  guards_.audit->Record(event);
}

absl::StatusOr<int64_t> AuthService::OwnerFor(const rpc::Caller& caller, int64_t requested) {
  int64_t self = 0;
  if (!absl::SimpleAtoi(caller.user_id, &self) || self <= 0) {
    return absl::PermissionDeniedError("only a user has API keys");
  }
  if (requested == 0 || requested == self) return self;
  if (caller.is_admin()) return requested;
  return absl::PermissionDeniedError("userId: only an admin may name another user");
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
  return RunOnPool(
      context, "login",
      [this, context, request, response, client_key = std::move(client_key)]() -> absl::Status {
        absl::StatusOr<SessionTokens> tokens =
            logic_.Login(request->username(), request->password(), client_key);
        // A failure names no user (it may not exist): the gateway is the actor, the name tried
        // is the target.
        Audit(*context,
              AuthEvent{.actor = tokens.ok() ? absl::StrCat(tokens->user_id) : kGatewayActor,
                        .action = "auth.login",
                        .target = tokens.ok() ? UserTarget(tokens->user_id)
                                              : absl::StrCat("username:",
                                                             request->username().substr(0, 64)),
                        .outcome = Outcome(tokens.status()),
                        .details = {{"reason", std::string(tokens.status().message())}}},
              /*with_client=*/true);
        if (!tokens.ok()) return tokens.status();
        ToProto(*tokens, response);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* AuthService::CreateUser(grpc::CallbackServerContext* context,
                                                  const spine::v1::CreateUserRequest* request,
                                                  spine::v1::User* response) {
  // The Authenticator enforces ACCESS_ADMIN from the RPC's option.
  absl::StatusOr<rpc::Caller> caller = Authenticate(*context);
  if (!caller.ok()) return FinishNow(context, caller.status());
  return RunOnPool(
      context, "createUser",
      [this, context, request, response, actor = caller->user_id]() -> absl::Status {
        absl::StatusOr<AuthUser> user =
            logic_.CreateUser(request->username(), request->password(), request->role());
        Audit(*context,
              AuthEvent{.actor = actor,
                        .action = "auth.user.create",
                        .target = user.ok() ? UserTarget(user->id) : "",
                        .outcome = Outcome(user.status()),
                        .details = {{"username", request->username()}, {"role", request->role()}}});
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
  Audit(*context, AuthEvent{.actor = caller->user_id,
                            .action = "auth.logout",
                            .target = absl::StrCat("user:", caller->user_id),
                            .outcome = Outcome(status)});
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

grpc::ServerUnaryReactor* AuthService::ChangePassword(
    grpc::CallbackServerContext* context, const spine::v1::ChangePasswordRequest* request,
    google::protobuf::Empty* /*response*/) {
  absl::StatusOr<rpc::Caller> caller = Authenticate(*context);
  if (!caller.ok()) return FinishNow(context, caller.status());
  return RunOnPool(context, "changePassword",
                   [this, context, request, actor = caller->user_id]() -> absl::Status {
                     absl::Status changed = logic_.ChangePassword(actor, request->old_password(),
                                                                  request->new_password());
                     Audit(*context,
                           AuthEvent{.actor = actor,
                                     .action = "auth.password.change",
                                     .target = absl::StrCat("user:", actor),
                                     .outcome = Outcome(changed),
                                     .details = {{"reason", std::string(changed.message())}}},
                           /*with_client=*/true);
                     return changed;
                   });
}

grpc::ServerUnaryReactor* AuthService::ResetPassword(grpc::CallbackServerContext* context,
                                                     const spine::v1::ResetPasswordRequest* request,
                                                     google::protobuf::Empty* /*response*/) {
  absl::StatusOr<rpc::Caller> caller = Authenticate(*context);
  if (!caller.ok()) return FinishNow(context, caller.status());
  return RunOnPool(context, "resetPassword",
                   [this, context, request, actor = caller->user_id]() -> absl::Status {
                     absl::Status reset = logic_.ResetPassword(request->id(), request->password());
                     Audit(*context, AuthEvent{.actor = actor,
                                               .action = "auth.password.reset",
                                               .target = UserTarget(request->id()),
                                               .outcome = Outcome(reset)});
                     return reset;
                   });
}

grpc::Status AuthService::ChangeUser(grpc::ServerContext* context, int64_t id,
                                     const std::string& action,
                                     const std::function<absl::StatusOr<AuthUser>()>& change,
                                     spine::v1::User* response) {
  absl::StatusOr<rpc::Caller> caller = Authenticate(*context);
  if (!caller.ok()) return rpc::ToGrpcStatus(caller.status());
  absl::StatusOr<AuthUser> user = change();
  AuthEvent event{.actor = caller->user_id,
                  .action = action,
                  .target = UserTarget(id),
                  .outcome = Outcome(user.status())};
  if (user.ok()) event.details.emplace_back("role", user->role);
  Audit(*context, std::move(event));
  if (!user.ok()) return rpc::ToGrpcStatus(user.status());
  ToProto(*user, response);
  return grpc::Status::OK;
}

grpc::Status AuthService::SetUserRole(grpc::ServerContext* context,
                                      const spine::v1::SetUserRoleRequest* request,
                                      spine::v1::User* response) {
  return ChangeUser(
      context, request->id(), "auth.user.role",
      [&] { return logic_.SetRole(request->id(), request->role()); }, response);
}

grpc::Status AuthService::DisableUser(grpc::ServerContext* context,
                                      const spine::v1::UserIdRequest* request,
                                      spine::v1::User* response) {
  return ChangeUser(
      context, request->id(), "auth.user.disable",
      [&] { return logic_.SetDisabled(request->id(), true); }, response);
}

grpc::Status AuthService::EnableUser(grpc::ServerContext* context,
                                     const spine::v1::UserIdRequest* request,
                                     spine::v1::User* response) {
  return ChangeUser(
      context, request->id(), "auth.user.enable",
      [&] { return logic_.SetDisabled(request->id(), false); }, response);
}

grpc::Status AuthService::DeleteUser(grpc::ServerContext* context,
                                     const spine::v1::DeleteUserRequest* request,
                                     google::protobuf::Empty* /*response*/) {
  absl::StatusOr<rpc::Caller> caller = Authenticate(*context);
  if (!caller.ok()) return rpc::ToGrpcStatus(caller.status());
  const absl::Status deleted = logic_.DeleteUser(request->id());
  Audit(*context, AuthEvent{.actor = caller->user_id,
                            .action = "auth.user.delete",
                            .target = UserTarget(request->id()),
                            .outcome = Outcome(deleted)});
  return rpc::ToGrpcStatus(deleted);
}

grpc::Status AuthService::CreateApiKey(grpc::ServerContext* context,
                                       const spine::v1::CreateApiKeyRequest* request,
                                       spine::v1::CreatedApiKey* response) {
  absl::StatusOr<rpc::Caller> caller = Authenticate(*context);
  if (!caller.ok()) return rpc::ToGrpcStatus(caller.status());
  absl::StatusOr<int64_t> owner = OwnerFor(*caller, request->user_id());
  absl::StatusOr<CreatedApiKey> created =
      owner.ok() ? logic_.CreateApiKey(*owner, request->name(), request->scope(),
                                       request->expires_in_days())
                 : absl::StatusOr<CreatedApiKey>(owner.status());
  Audit(*context, AuthEvent{.actor = caller->user_id,
                            .action = "auth.apikey.create",
                            .target = created.ok() ? absl::StrCat("apikey:", created->key.id) : "",
                            .outcome = Outcome(created.status()),
                            .details = {{"owner", absl::StrCat(request->user_id())},
                                        {"name", request->name().substr(0, 64)},
                                        {"scope", request->scope().substr(0, 16)}}});
  if (!created.ok()) return rpc::ToGrpcStatus(created.status());
  ToProto(created->key, response->mutable_api_key());
  response->set_secret(created->secret);
  return grpc::Status::OK;
}

grpc::Status AuthService::ListApiKeys(grpc::ServerContext* context,
                                      const spine::v1::ListApiKeysRequest* request,
                                      spine::v1::ListApiKeysResponse* response) {
  absl::StatusOr<rpc::Caller> caller = Authenticate(*context);
  if (!caller.ok()) return rpc::ToGrpcStatus(caller.status());
  absl::StatusOr<int64_t> owner = OwnerFor(*caller, request->user_id());
  if (!owner.ok()) return rpc::ToGrpcStatus(owner.status());
  absl::StatusOr<std::vector<ApiKeyRecord>> keys = logic_.ListApiKeys(*owner);
  if (!keys.ok()) return rpc::ToGrpcStatus(keys.status());
  for (const ApiKeyRecord& key : *keys) ToProto(key, response->add_api_keys());
  return grpc::Status::OK;
}

grpc::Status AuthService::RevokeApiKey(grpc::ServerContext* context,
                                       const spine::v1::RevokeApiKeyRequest* request,
                                       google::protobuf::Empty* /*response*/) {
  absl::StatusOr<rpc::Caller> caller = Authenticate(*context);
  if (!caller.ok()) return rpc::ToGrpcStatus(caller.status());
  // An admin revokes anyone's key; a user only its own (another's is NOT_FOUND, not 403, so
  // key ids do not tell whether they exist).
  absl::StatusOr<int64_t> owner =
      caller->is_admin() ? absl::StatusOr<int64_t>(0) : OwnerFor(*caller, /*requested=*/0);
  absl::StatusOr<ApiKeyRecord> revoked = owner.ok() ? logic_.RevokeApiKey(*owner, request->id())
                                                    : absl::StatusOr<ApiKeyRecord>(owner.status());
  if (revoked.ok() && guards_.api_keys != nullptr) guards_.api_keys->Forget(revoked->prefix);
  Audit(*context, AuthEvent{.actor = caller->user_id,
                            .action = "auth.apikey.revoke",
                            .target = absl::StrCat("apikey:", request->id()),
                            .outcome = Outcome(revoked.status())});
  return rpc::ToGrpcStatus(revoked.status());
}

}  // namespace spine::gateway
