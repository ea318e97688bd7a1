// Domain types of users, refresh-token families and login lockout.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace spine::storage {

struct User {
  int64_t id = 0;
  std::string username{};       // unique, compared case-insensitively
  std::string role{};           // "user" or "admin"
  std::string password_hash{};  // scrypt with its parameters, made by the gateway
  int64_t create_micros = 0;
  // A disabled user cannot log in or refresh; the account and its data stay.
  bool disabled = false;

  bool operator==(const User&) const = default;
};

// The fields of a user an update changes: those set. `revoke_refresh_tokens` also revokes every
// refresh-token family of the user in the same transaction (a new password, a disabled account).
struct UserPatch {
  std::optional<std::string> role{};
  std::optional<bool> disabled{};
  std::optional<std::string> password_hash{};
  bool revoke_refresh_tokens = false;
};

// An API key for scripts. Only the SHA-256 of its secret is stored; `prefix` is the public part
// of the key (looked up, shown in listings), the secret never leaves the gateway's answer to its
// creation.
struct ApiKey {
  int64_t id = 0;
  int64_t user_id = 0;
  std::string name{};
  std::string scope{};        // "read" or "write"
  std::string prefix{};       // unique
  std::string secret_hash{};  // 32 raw bytes
  int64_t create_micros = 0;
  int64_t expire_micros = 0;
  int64_t last_used_micros = 0;  // 0: never used
  int64_t revoke_micros = 0;     // 0: not revoked

  bool operator==(const ApiKey&) const = default;
};

// One refresh token of a family; only its SHA-256 is stored.
struct RefreshToken {
  std::string token_hash{};  // 32 raw bytes
  std::string family_id{};
  int64_t user_id = 0;
  int64_t expire_micros = 0;
};

struct LoginLock {
  int failures_in_window = 0;
  bool locked = false;
  int64_t locked_until_micros = 0;
};

// The lockout rule the caller enforces (API.md: 10 failures per 15 min lock for 15 min).
struct LockoutPolicy {
  int64_t window_micros = 0;
  int max_failures = 0;
  int64_t lock_micros = 0;
};

}  // namespace spine::storage
