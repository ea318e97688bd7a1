// UserAccess: accounts as the gateway keeps them — name and role rules, unique names regardless
// of case, lookups by id or name.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/core/clock.h"
#include "services/storage/storage_adapter.h"
#include "services/storage/user.h"

namespace spine::storage {

// The reason of a lookup that names no user (shared with the refresh tokens, which need one).
inline constexpr char kUserNotFound[] = "USER_NOT_FOUND";
// The reason of a change refused because it would leave no enabled admin.
inline constexpr char kLastAdmin[] = "LAST_ADMIN";

class UserAccess {
 public:
  UserAccess(StorageAdapter& adapter, const Clock& clock) : adapter_(adapter), clock_(clock) {}

  // `username` must match ^[a-z0-9_.-]{3,32}$ (API.md), role "user" or "admin", and the hash is
  // the gateway's encoded scrypt hash. ALREADY_EXISTS for a taken name (any case).
  absl::StatusOr<User> CreateUser(const std::string& username, const std::string& role,
                                  const std::string& password_hash);
  absl::StatusOr<User> GetUserById(int64_t id);
  // Case-insensitive.
  absl::StatusOr<User> GetUserByName(const std::string& username);
  absl::StatusOr<std::vector<User>> ListUsers();
  // Changes role, disabled and password hash (those set), by the same rules as CreateUser. A new
  // hash or disabling the user revokes all its refresh-token families in the same transaction.
  // ABORTED (kLastAdmin) when no enabled admin would be left.
  absl::StatusOr<User> UpdateUser(int64_t id, std::optional<std::string> role,
                                  std::optional<bool> disabled,
                                  std::optional<std::string> password_hash);
  // Deletes the user and all it owns (storage_adapter.h); ABORTED (kLastAdmin) for the last
  // enabled admin.
  absl::Status DeleteUser(int64_t id);

 private:
  StorageAdapter& adapter_;
  const Clock& clock_;
};

}  // namespace spine::storage
