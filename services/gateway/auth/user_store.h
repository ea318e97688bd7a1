// UserStore: what the auth logic needs from persistent storage — users, login-failure counts and
// refresh-token families — as a small interface, so unit tests drive AuthLogic with a fake.
//
// The real implementation (storage_user_store.h) calls spine-storage's internal StorageService.
// Implementations are thread-safe: AuthLogic calls them from several threads at once.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace spine::gateway {

// A stored user account.
struct UserRecord {
  int64_t id = 0;
  std::string username{};
  std::string role{};           // "user" or "admin"
  std::string password_hash{};  // see libs/auth/password_hash.h
  bool disabled = false;        // cannot log in or refresh
  absl::Time create_time = absl::InfinitePast();
};

// The fields of a user an update changes: those set. A new password hash or disabling the user
// also revokes all its refresh-token families, in the same storage transaction.
struct UserUpdate {
  std::optional<std::string> role{};
  std::optional<bool> disabled{};
  std::optional<std::string> password_hash{};
};

// A stored API key (only the SHA-256 of its secret is stored).
struct ApiKeyRecord {
  int64_t id = 0;
  int64_t user_id = 0;
  std::string name{};
  std::string scope{};   // "read" or "write"
  std::string prefix{};  // the public part the key is found by
  std::string secret_hash{};
  absl::Time create_time = absl::InfinitePast();
  absl::Time expire_time = absl::InfinitePast();
  std::optional<absl::Time> last_use_time{};
  std::optional<absl::Time> revoke_time{};
};

// Failed logins per username: `max_failures` within `window` lock the username for `lock`.
struct LockoutPolicy {
  absl::Duration window = absl::Minutes(15);
  int max_failures = 10;
  absl::Duration lock = absl::Minutes(15);
};

// The lockout state of one username.
struct LoginLockState {
  int failures_in_window = 0;
  bool locked = false;
  absl::Time locked_until = absl::InfinitePast();  // meaningful when `locked`
};

// A stored refresh token (only its SHA-256 is ever stored) and the family it belongs to.
struct RefreshTokenGrant {
  int64_t user_id = 0;
  std::string family_id{};
  absl::Time expire_time = absl::InfinitePast();
};

class UserStore {
 public:
  virtual ~UserStore() = default;

  // Inserts a user. ALREADY_EXISTS when the username is taken (case-insensitively).
  virtual absl::StatusOr<UserRecord> CreateUser(const std::string& username,
                                                const std::string& role,
                                                const std::string& password_hash) = 0;
  // NOT_FOUND when there is no such user.
  virtual absl::StatusOr<UserRecord> GetUserById(int64_t id) = 0;
  // Case-insensitive lookup. NOT_FOUND when there is no such user.
  virtual absl::StatusOr<UserRecord> GetUserByName(const std::string& username) = 0;
  virtual absl::StatusOr<std::vector<UserRecord>> ListUsers() = 0;
  virtual absl::StatusOr<int64_t> CountUsers() = 0;
  // NOT_FOUND for an unknown user; ABORTED (reason LAST_ADMIN) when no enabled admin would be
  // left.
  virtual absl::StatusOr<UserRecord> UpdateUser(int64_t id, const UserUpdate& update) = 0;
  // Deletes the user and all its data (storage.proto DeleteUserRecordRequest); errors as Update.
  virtual absl::Status DeleteUser(int64_t id) = 0;

  // API keys. `key`'s id, create and use times are set by the store. Get is NOT_FOUND for an
  // unknown prefix; List with `user_id` 0 lists everyone's; Revoke is NOT_FOUND unless the key is
  // `user_id`'s (0: anyone's).
  virtual absl::StatusOr<ApiKeyRecord> CreateApiKey(const ApiKeyRecord& key) = 0;
  virtual absl::StatusOr<ApiKeyRecord> GetApiKeyByPrefix(const std::string& prefix) = 0;
  virtual absl::StatusOr<std::vector<ApiKeyRecord>> ListApiKeys(int64_t user_id) = 0;
  virtual absl::StatusOr<ApiKeyRecord> RevokeApiKey(int64_t user_id, int64_t id) = 0;
  virtual absl::Status TouchApiKey(int64_t id) = 0;

  // Counts one failed login for `username` and returns the resulting state (locked once the
  // policy's threshold is reached).
  virtual absl::StatusOr<LoginLockState> RecordLoginFailure(const std::string& username,
                                                            const LockoutPolicy& policy) = 0;
  virtual absl::StatusOr<LoginLockState> GetLoginLock(const std::string& username) = 0;
  virtual absl::Status ResetLoginFailures(const std::string& username) = 0;

  // Stores `token_hash` (SHA-256, 32 bytes) for `user_id`; an empty `family_id` starts a family.
  virtual absl::StatusOr<RefreshTokenGrant> CreateRefreshToken(int64_t user_id,
                                                               const std::string& token_hash,
                                                               const std::string& family_id,
                                                               absl::Time expire_time) = 0;
  // Atomically marks the presented token used and stores its successor in the same family.
  // UNAUTHENTICATED for an unknown, expired or revoked token; PERMISSION_DENIED when the token
  // was already used (the whole family is then revoked).
  virtual absl::StatusOr<RefreshTokenGrant> RotateRefreshToken(
      const std::string& presented_hash, const std::string& successor_hash,
      absl::Time successor_expire_time) = 0;
  // Revokes the family of `token_hash`. NOT_FOUND for an unknown token.
  virtual absl::Status RevokeRefreshFamily(const std::string& token_hash) = 0;
};

}  // namespace spine::gateway
