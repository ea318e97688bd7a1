// Domain types of users, refresh-token families and login lockout.
#pragma once

#include <cstdint>
#include <string>

namespace spine::storage {

struct User {
  int64_t id = 0;
  std::string username{};       // unique, compared case-insensitively
  std::string role{};           // "user" or "admin"
  std::string password_hash{};  // scrypt with its parameters, made by the gateway
  int64_t create_micros = 0;

  bool operator==(const User&) const = default;
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
