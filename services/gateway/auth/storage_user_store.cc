#include "services/gateway/auth/storage_user_store.h"

#include <utility>

#include "google/protobuf/util/time_util.h"
#include "libs/core/status.h"
#include "libs/rpc/channel.h"
#include "libs/rpc/status_convert.h"

namespace spine::gateway {
namespace {

using google::protobuf::util::TimeUtil;

absl::Time FromTimestamp(const google::protobuf::Timestamp& timestamp) {
  return absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(timestamp));
}

UserRecord FromProto(const spine::v1::UserRecord& record) {
  return UserRecord{.id = record.id(),
                    .username = record.username(),
                    .role = record.role(),
                    .password_hash = record.password_hash(),
                    .disabled = record.disabled(),
                    .create_time = FromTimestamp(record.create_time())};
}

ApiKeyRecord FromProto(const spine::v1::ApiKeyRecord& record) {
  ApiKeyRecord key{.id = record.id(),
                   .user_id = record.user_id(),
                   .name = record.name(),
                   .scope = record.scope(),
                   .prefix = record.prefix(),
                   .secret_hash = record.secret_hash(),
                   .create_time = FromTimestamp(record.create_time()),
                   .expire_time = FromTimestamp(record.expire_time())};
  if (record.has_last_use_time()) key.last_use_time = FromTimestamp(record.last_use_time());
  if (record.has_revoke_time()) key.revoke_time = FromTimestamp(record.revoke_time());
  return key;
}

LoginLockState FromProto(const spine::v1::LoginLockState& state) {
  LoginLockState out{.failures_in_window = state.failures_in_window(), .locked = state.locked()};
  if (state.has_locked_until()) {
    out.locked_until =
        absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(state.locked_until()));
  }
  return out;
}

RefreshTokenGrant FromProto(const spine::v1::RefreshTokenRecord& record) {
  return RefreshTokenGrant{
      .user_id = record.user_id(),
      .family_id = record.family_id(),
      .expire_time = absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(record.expire_time()))};
}

google::protobuf::Timestamp ToProto(absl::Time time) {
  return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(time));
}

int32_t Seconds(absl::Duration d) { return static_cast<int32_t>(absl::ToInt64Seconds(d)); }

}  // namespace

StorageUserStore::StorageUserStore(const std::shared_ptr<grpc::Channel>& channel,
                                   const ServiceTokenSource& tokens, absl::Duration deadline)
    : stub_(spine::v1::StorageService::NewStub(channel)), tokens_(tokens), deadline_(deadline) {}

absl::StatusOr<std::unique_ptr<grpc::ClientContext>> StorageUserStore::Context() const {
  SPINE_ASSIGN_OR_RETURN(std::string authorization, tokens_.AuthorizationHeader());
  std::unique_ptr<grpc::ClientContext> context = rpc::MakeClientContext(deadline_);
  context->AddMetadata("authorization", authorization);
  return context;
}

absl::StatusOr<UserRecord> StorageUserStore::CreateUser(const std::string& username,
                                                        const std::string& role,
                                                        const std::string& password_hash) {
  SPINE_ASSIGN_OR_RETURN(auto context, Context());
  spine::v1::CreateUserRecordRequest request;
  request.set_username(username);
  request.set_role(role);
  request.set_password_hash(password_hash);
  spine::v1::UserRecord response;
  SPINE_RETURN_IF_ERROR(
      rpc::FromGrpcStatus(stub_->CreateUserRecord(context.get(), request, &response)));
  return FromProto(response);
}

absl::StatusOr<UserRecord> StorageUserStore::GetUser(
    const spine::v1::GetUserRecordRequest& request) {
  SPINE_ASSIGN_OR_RETURN(auto context, Context());
  spine::v1::UserRecord response;
  SPINE_RETURN_IF_ERROR(
      rpc::FromGrpcStatus(stub_->GetUserRecord(context.get(), request, &response)));
  return FromProto(response);
}

absl::StatusOr<UserRecord> StorageUserStore::GetUserById(int64_t id) {
  spine::v1::GetUserRecordRequest request;
  request.set_id(id);
  return GetUser(request);
}

absl::StatusOr<UserRecord> StorageUserStore::GetUserByName(const std::string& username) {
  spine::v1::GetUserRecordRequest request;
  request.set_username(username);
  return GetUser(request);
}

absl::StatusOr<std::vector<UserRecord>> StorageUserStore::ListUsers() {
  SPINE_ASSIGN_OR_RETURN(auto context, Context());
  spine::v1::ListUserRecordsResponse response;
  SPINE_RETURN_IF_ERROR(rpc::FromGrpcStatus(
      stub_->ListUserRecords(context.get(), spine::v1::ListUserRecordsRequest(), &response)));
  std::vector<UserRecord> users;
  users.reserve(response.users_size());
  for (const spine::v1::UserRecord& user : response.users()) users.push_back(FromProto(user));
  return users;
}

absl::StatusOr<int64_t> StorageUserStore::CountUsers() {
  SPINE_ASSIGN_OR_RETURN(auto context, Context());
  spine::v1::CountUsersResponse response;
  SPINE_RETURN_IF_ERROR(rpc::FromGrpcStatus(
      stub_->CountUsers(context.get(), spine::v1::CountUsersRequest(), &response)));
  return response.count();
}

absl::StatusOr<LoginLockState> StorageUserStore::RecordLoginFailure(const std::string& username,
                                                                    const LockoutPolicy& policy) {
  SPINE_ASSIGN_OR_RETURN(auto context, Context());
  spine::v1::RecordLoginFailureRequest request;
  request.set_username(username);
  request.set_window_seconds(Seconds(policy.window));
  request.set_max_failures(policy.max_failures);
  request.set_lock_seconds(Seconds(policy.lock));
  spine::v1::LoginLockState response;
  SPINE_RETURN_IF_ERROR(
      rpc::FromGrpcStatus(stub_->RecordLoginFailure(context.get(), request, &response)));
  return FromProto(response);
}

absl::StatusOr<LoginLockState> StorageUserStore::GetLoginLock(const std::string& username) {
  SPINE_ASSIGN_OR_RETURN(auto context, Context());
  spine::v1::GetLoginLockRequest request;
  request.set_username(username);
  spine::v1::LoginLockState response;
  SPINE_RETURN_IF_ERROR(
      rpc::FromGrpcStatus(stub_->GetLoginLock(context.get(), request, &response)));
  return FromProto(response);
}

absl::Status StorageUserStore::ResetLoginFailures(const std::string& username) {
  SPINE_ASSIGN_OR_RETURN(auto context, Context());
  spine::v1::ResetLoginFailuresRequest request;
  request.set_username(username);
  google::protobuf::Empty response;
  return rpc::FromGrpcStatus(stub_->ResetLoginFailures(context.get(), request, &response));
}

absl::StatusOr<RefreshTokenGrant> StorageUserStore::CreateRefreshToken(
    int64_t user_id, const std::string& token_hash, const std::string& family_id,
    absl::Time expire_time) {
  SPINE_ASSIGN_OR_RETURN(auto context, Context());
  spine::v1::CreateRefreshTokenRequest request;
  request.set_user_id(user_id);
  request.set_token_hash(token_hash);
  request.set_family_id(family_id);
  *request.mutable_expire_time() = ToProto(expire_time);
  spine::v1::RefreshTokenRecord response;
  SPINE_RETURN_IF_ERROR(
      rpc::FromGrpcStatus(stub_->CreateRefreshToken(context.get(), request, &response)));
  return FromProto(response);
}

absl::StatusOr<RefreshTokenGrant> StorageUserStore::RotateRefreshToken(
    const std::string& presented_hash, const std::string& successor_hash,
    absl::Time successor_expire_time) {
  SPINE_ASSIGN_OR_RETURN(auto context, Context());
  spine::v1::RotateRefreshTokenRequest request;
  request.set_presented_hash(presented_hash);
  request.set_successor_hash(successor_hash);
  *request.mutable_successor_expire_time() = ToProto(successor_expire_time);
  spine::v1::RefreshTokenRecord response;
  SPINE_RETURN_IF_ERROR(
      rpc::FromGrpcStatus(stub_->RotateRefreshToken(context.get(), request, &response)));
  return FromProto(response);
}

absl::Status StorageUserStore::RevokeRefreshFamily(const std::string& token_hash) {
  SPINE_ASSIGN_OR_RETURN(auto context, Context());
  spine::v1::RevokeRefreshFamilyRequest request;
  request.set_token_hash(token_hash);
  google::protobuf::Empty response;
  return rpc::FromGrpcStatus(stub_->RevokeRefreshFamily(context.get(), request, &response));
}

absl::StatusOr<UserRecord> StorageUserStore::UpdateUser(int64_t id, const UserUpdate& update) {
  SPINE_ASSIGN_OR_RETURN(auto context, Context());
  spine::v1::UpdateUserRecordRequest request;
  request.set_id(id);
  if (update.role) request.set_role(*update.role);
  if (update.disabled) request.set_disabled(*update.disabled);
  if (update.password_hash) request.set_password_hash(*update.password_hash);
  spine::v1::UserRecord response;
  SPINE_RETURN_IF_ERROR(
      rpc::FromGrpcStatus(stub_->UpdateUserRecord(context.get(), request, &response)));
  return FromProto(response);
}

absl::Status StorageUserStore::DeleteUser(int64_t id) {
  SPINE_ASSIGN_OR_RETURN(auto context, Context());
  spine::v1::DeleteUserRecordRequest request;
  request.set_id(id);
  google::protobuf::Empty response;
  return rpc::FromGrpcStatus(stub_->DeleteUserRecord(context.get(), request, &response));
}

absl::StatusOr<ApiKeyRecord> StorageUserStore::CreateApiKey(const ApiKeyRecord& key) {
  SPINE_ASSIGN_OR_RETURN(auto context, Context());
  spine::v1::CreateApiKeyRecordRequest request;
  spine::v1::ApiKeyRecord* record = request.mutable_key();
  record->set_user_id(key.user_id);
  record->set_name(key.name);
  record->set_scope(key.scope);
  record->set_prefix(key.prefix);
  record->set_secret_hash(key.secret_hash);
  *record->mutable_expire_time() = ToProto(key.expire_time);
  spine::v1::ApiKeyRecord response;
  SPINE_RETURN_IF_ERROR(
      rpc::FromGrpcStatus(stub_->CreateApiKeyRecord(context.get(), request, &response)));
  return FromProto(response);
}

absl::StatusOr<ApiKeyRecord> StorageUserStore::GetApiKeyByPrefix(const std::string& prefix) {
  SPINE_ASSIGN_OR_RETURN(auto context, Context());
  spine::v1::GetApiKeyRecordRequest request;
  request.set_prefix(prefix);
  spine::v1::ApiKeyRecord response;
  SPINE_RETURN_IF_ERROR(
      rpc::FromGrpcStatus(stub_->GetApiKeyRecord(context.get(), request, &response)));
  return FromProto(response);
}

absl::StatusOr<std::vector<ApiKeyRecord>> StorageUserStore::ListApiKeys(int64_t user_id) {
  SPINE_ASSIGN_OR_RETURN(auto context, Context());
  spine::v1::ListApiKeyRecordsRequest request;
  request.set_user_id(user_id);
  spine::v1::ListApiKeyRecordsResponse response;
  SPINE_RETURN_IF_ERROR(
      rpc::FromGrpcStatus(stub_->ListApiKeyRecords(context.get(), request, &response)));
  std::vector<ApiKeyRecord> keys;
  keys.reserve(response.keys_size());
  for (const spine::v1::ApiKeyRecord& key : response.keys()) keys.push_back(FromProto(key));
  return keys;
}

absl::StatusOr<ApiKeyRecord> StorageUserStore::RevokeApiKey(int64_t user_id, int64_t id) {
  SPINE_ASSIGN_OR_RETURN(auto context, Context());
  spine::v1::RevokeApiKeyRecordRequest request;
  request.set_user_id(user_id);
  request.set_id(id);
  spine::v1::ApiKeyRecord response;
  SPINE_RETURN_IF_ERROR(
      rpc::FromGrpcStatus(stub_->RevokeApiKeyRecord(context.get(), request, &response)));
  return FromProto(response);
}

absl::Status StorageUserStore::TouchApiKey(int64_t id) {
  SPINE_ASSIGN_OR_RETURN(auto context, Context());
  spine::v1::TouchApiKeyRecordRequest request;
  request.set_id(id);
  google::protobuf::Empty response;
  return rpc::FromGrpcStatus(stub_->TouchApiKeyRecord(context.get(), request, &response));
}

}  // namespace spine::gateway
