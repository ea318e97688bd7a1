#include "services/storage/access/user_access.h"

#include "absl/strings/str_cat.h"
#include "libs/core/status.h"
#include "services/storage/access/field_checks.h"
#include "services/storage/error_reasons.h"

namespace spine::storage {

absl::StatusOr<User> UserAccess::CreateUser(const std::string& username, const std::string& role,
                                            const std::string& password_hash) {
  SPINE_RETURN_IF_ERROR(CheckUsername(username));
  if (role != "user" && role != "admin") {
    return absl::InvalidArgumentError(absl::StrCat("role: '", role, "', must be user or admin"));
  }
  if (password_hash.empty() || password_hash.size() > 512) {
    return absl::InvalidArgumentError("passwordHash: must be 1..512 characters");
  }
  return adapter_.InsertUser(User{.username = username,
                                  .role = role,
                                  .password_hash = password_hash,
                                  .create_micros = absl::ToUnixMicros(clock_.Now())});
}

absl::StatusOr<User> UserAccess::GetUserById(int64_t id) {
  SPINE_RETURN_IF_ERROR(CheckRecordId("user", id));
  return WithNotFoundReason(adapter_.GetUserById(id), kUserNotFound);
}

absl::StatusOr<User> UserAccess::GetUserByName(const std::string& username) {
  SPINE_RETURN_IF_ERROR(CheckLookupName(username));
  return WithNotFoundReason(adapter_.GetUserByName(username), kUserNotFound);
}

absl::StatusOr<std::vector<User>> UserAccess::ListUsers() { return adapter_.ListUsers(); }

absl::StatusOr<User> UserAccess::UpdateUser(int64_t id, std::optional<std::string> role,
                                            std::optional<bool> disabled,
                                            std::optional<std::string> password_hash) {
  SPINE_RETURN_IF_ERROR(CheckRecordId("user", id));
  if (role && *role != "user" && *role != "admin") {
    return absl::InvalidArgumentError(absl::StrCat("role: '", *role, "', must be user or admin"));
  }
  if (password_hash && (password_hash->empty() || password_hash->size() > 512)) {
    return absl::InvalidArgumentError("passwordHash: must be 1..512 characters");
  }
  const bool revoke = password_hash.has_value() || disabled.value_or(false);
  absl::StatusOr<User> updated =
      adapter_.UpdateUser(id, UserPatch{.role = std::move(role),
                                        .disabled = disabled,
                                        .password_hash = std::move(password_hash),
                                        .revoke_refresh_tokens = revoke});
  updated = rpc::WithErrorInfoIf(std::move(updated), absl::StatusCode::kAborted, kLastAdmin);
  return WithNotFoundReason(std::move(updated), kUserNotFound);
}

absl::Status UserAccess::DeleteUser(int64_t id) {
  SPINE_RETURN_IF_ERROR(CheckRecordId("user", id));
  absl::Status deleted =
      rpc::WithErrorInfoIf(adapter_.DeleteUser(id), absl::StatusCode::kAborted, kLastAdmin);
  return WithNotFoundReason(std::move(deleted), kUserNotFound);
}

}  // namespace spine::storage
