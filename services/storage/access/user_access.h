// UserAccess: accounts as the gateway keeps them — name and role rules, unique names regardless
// of case, lookups by id or name.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/core/clock.h"
#include "services/storage/storage_adapter.h"
#include "services/storage/user.h"

namespace spine::storage {

// The reason of a lookup that names no user (shared with the refresh tokens, which need one).
inline constexpr char kUserNotFound[] = "USER_NOT_FOUND";

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

 private:
  StorageAdapter& adapter_;
  const Clock& clock_;
};

}  // namespace spine::storage
