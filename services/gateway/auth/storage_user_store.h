// StorageUserStore: the UserStore over spine-storage's internal StorageService.
//
// Every call carries the gateway's service token and a deadline, so a dead or hung storage turns
// into UNAVAILABLE / DEADLINE_EXCEEDED within `deadline`, never a hang. Thread-safe (a gRPC stub
// may be shared by any number of threads).
#pragma once

#include <memory>

#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "services/gateway/auth/service_token_source.h"
#include "services/gateway/auth/user_store.h"
#include "spine/v1/storage.grpc.pb.h"

namespace spine::gateway {

class StorageUserStore final : public UserStore {
 public:
  // `tokens` must outlive the store.
  StorageUserStore(const std::shared_ptr<grpc::Channel>& channel, const ServiceTokenSource& tokens,
                   absl::Duration deadline);

  absl::StatusOr<UserRecord> CreateUser(const std::string& username, const std::string& role,
                                        const std::string& password_hash) override;
  absl::StatusOr<UserRecord> GetUserById(int64_t id) override;
  absl::StatusOr<UserRecord> GetUserByName(const std::string& username) override;
  absl::StatusOr<std::vector<UserRecord>> ListUsers() override;
  absl::StatusOr<int64_t> CountUsers() override;
  absl::StatusOr<UserRecord> UpdateUser(int64_t id, const UserUpdate& update) override;
  absl::Status DeleteUser(int64_t id) override;
  absl::StatusOr<ApiKeyRecord> CreateApiKey(const ApiKeyRecord& key) override;
  absl::StatusOr<ApiKeyRecord> GetApiKeyByPrefix(const std::string& prefix) override;
  absl::StatusOr<std::vector<ApiKeyRecord>> ListApiKeys(int64_t user_id) override;
  absl::StatusOr<ApiKeyRecord> RevokeApiKey(int64_t user_id, int64_t id) override;
  absl::Status TouchApiKey(int64_t id) override;
  absl::StatusOr<LoginLockState> RecordLoginFailure(const std::string& username,
                                                    const LockoutPolicy& policy) override;
  absl::StatusOr<LoginLockState> GetLoginLock(const std::string& username) override;
  absl::Status ResetLoginFailures(const std::string& username) override;
  absl::StatusOr<RefreshTokenGrant> CreateRefreshToken(int64_t user_id,
                                                       const std::string& token_hash,
                                                       const std::string& family_id,
                                                       absl::Time expire_time) override;
  absl::StatusOr<RefreshTokenGrant> RotateRefreshToken(const std::string& presented_hash,
                                                       const std::string& successor_hash,
                                                       absl::Time successor_expire_time) override;
  absl::Status RevokeRefreshFamily(const std::string& token_hash) override;

 private:
  // A context with the deadline and the service token.
  absl::StatusOr<std::unique_ptr<grpc::ClientContext>> Context() const;
  absl::StatusOr<UserRecord> GetUser(const spine::v1::GetUserRecordRequest& request);

  std::unique_ptr<spine::v1::StorageService::Stub> stub_;
  const ServiceTokenSource& tokens_;
  const absl::Duration deadline_;
};

}  // namespace spine::gateway
