// FakeUserStore: an in-memory UserStore with spine-storage's semantics (case-insensitive names,
// lockout windows, single-use refresh tokens with family revocation), timed by a FakeClock.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/synchronization/mutex.h"
#include "libs/core/clock.h"
#include "services/gateway/auth/user_store.h"

namespace spine::gateway::testing {

class FakeUserStore final : public UserStore {
 public:
  explicit FakeUserStore(const Clock& clock) : clock_(clock) {}

  // The next `n` calls fail with UNAVAILABLE, as when storage is down.
  void FailNextCalls(int n) {
    absl::MutexLock lock(&mu_);
    failing_calls_ = n;
  }
  void SetRole(int64_t id, const std::string& role) {
    absl::MutexLock lock(&mu_);
    users_.at(id).role = role;
  }
  // Number of GetUserByName/RotateRefreshToken/RevokeRefreshFamily calls so far.
  int lookups() const {
    absl::MutexLock lock(&mu_);
    return lookups_;
  }

  absl::StatusOr<UserRecord> CreateUser(const std::string& username, const std::string& role,
                                        const std::string& password_hash) override {
    absl::MutexLock lock(&mu_);
    if (absl::Status down = MaybeFailLocked(); !down.ok()) return down;
    for (const auto& [id, user] : users_) {
      if (absl::AsciiStrToLower(user.username) == absl::AsciiStrToLower(username)) {
        return absl::AlreadyExistsError("username '" + username + "' is taken");
      }
    }
    const int64_t id = ++last_user_id_;  // never reused, as in storage
    users_[id] =
        UserRecord{.id = id, .username = username, .role = role, .password_hash = password_hash};
    return users_[id];
  }

  absl::StatusOr<UserRecord> GetUserById(int64_t id) override {
    absl::MutexLock lock(&mu_);
    if (absl::Status down = MaybeFailLocked(); !down.ok()) return down;
    auto it = users_.find(id);
    if (it == users_.end()) return absl::NotFoundError("no such user");
    return it->second;
  }

  absl::StatusOr<UserRecord> GetUserByName(const std::string& username) override {
    absl::MutexLock lock(&mu_);
    if (absl::Status down = MaybeFailLocked(); !down.ok()) return down;
    ++lookups_;
    for (const auto& [id, user] : users_) {
      if (absl::AsciiStrToLower(user.username) == absl::AsciiStrToLower(username)) return user;
    }
    return absl::NotFoundError("no such user");
  }

  absl::StatusOr<std::vector<UserRecord>> ListUsers() override {
    absl::MutexLock lock(&mu_);
    if (absl::Status down = MaybeFailLocked(); !down.ok()) return down;
    std::vector<UserRecord> users;
    for (const auto& [id, user] : users_) users.push_back(user);
    return users;
  }

  absl::StatusOr<int64_t> CountUsers() override {
    absl::MutexLock lock(&mu_);
    if (absl::Status down = MaybeFailLocked(); !down.ok()) return down;
    return static_cast<int64_t>(users_.size());
  }

  absl::StatusOr<UserRecord> UpdateUser(int64_t id, const UserUpdate& update) override {
    absl::MutexLock lock(&mu_);
    if (absl::Status down = MaybeFailLocked(); !down.ok()) return down;
    auto it = users_.find(id);
    if (it == users_.end()) return absl::NotFoundError("no such user");
    UserRecord after = it->second;
    if (update.role) after.role = *update.role;
    if (update.disabled) after.disabled = *update.disabled;
    if (update.password_hash) after.password_hash = *update.password_hash;
    if (LeavesNoAdminLocked(it->second, &after)) return absl::AbortedError("last admin");
    it->second = after;
    if (update.password_hash || update.disabled.value_or(false)) RevokeUserLocked(id);
    return after;
  }

  absl::Status DeleteUser(int64_t id) override {
    absl::MutexLock lock(&mu_);
    if (absl::Status down = MaybeFailLocked(); !down.ok()) return down;
    auto it = users_.find(id);
    if (it == users_.end()) return absl::NotFoundError("no such user");
    if (LeavesNoAdminLocked(it->second, nullptr)) return absl::AbortedError("last admin");
    users_.erase(it);
    RevokeUserLocked(id);
    std::erase_if(keys_, [id](const auto& entry) { return entry.second.user_id == id; });
    return absl::OkStatus();
  }

  absl::StatusOr<ApiKeyRecord> CreateApiKey(const ApiKeyRecord& key) override {
    absl::MutexLock lock(&mu_);
    if (absl::Status down = MaybeFailLocked(); !down.ok()) return down;
    if (!users_.contains(key.user_id)) return absl::NotFoundError("no such user");
    ApiKeyRecord stored = key;
    stored.id = static_cast<int64_t>(keys_.size()) + 1;
    stored.create_time = clock_.Now();
    keys_[stored.id] = stored;
    return stored;
  }

  absl::StatusOr<ApiKeyRecord> GetApiKeyByPrefix(const std::string& prefix) override {
    absl::MutexLock lock(&mu_);
    if (absl::Status down = MaybeFailLocked(); !down.ok()) return down;
    for (const auto& [id, key] : keys_) {
      if (key.prefix == prefix) return key;
    }
    return absl::NotFoundError("no such key");
  }

  absl::StatusOr<std::vector<ApiKeyRecord>> ListApiKeys(int64_t user_id) override {
    absl::MutexLock lock(&mu_);
    if (absl::Status down = MaybeFailLocked(); !down.ok()) return down;
    std::vector<ApiKeyRecord> keys;
    for (auto it = keys_.rbegin(); it != keys_.rend(); ++it) {
      if (user_id == 0 || it->second.user_id == user_id) keys.push_back(it->second);
    }
    return keys;
  }

  absl::StatusOr<ApiKeyRecord> RevokeApiKey(int64_t user_id, int64_t id) override {
    absl::MutexLock lock(&mu_);
    if (absl::Status down = MaybeFailLocked(); !down.ok()) return down;
    auto it = keys_.find(id);
    if (it == keys_.end() || (user_id != 0 && it->second.user_id != user_id)) {
      return absl::NotFoundError("no such key");
    }
    if (!it->second.revoke_time) it->second.revoke_time = clock_.Now();
    return it->second;
  }

  absl::Status TouchApiKey(int64_t id) override {
    absl::MutexLock lock(&mu_);
    if (absl::Status down = MaybeFailLocked(); !down.ok()) return down;
    auto it = keys_.find(id);
    if (it == keys_.end()) return absl::NotFoundError("no such key");
    it->second.last_use_time = clock_.Now();
    return absl::OkStatus();
  }

  absl::StatusOr<LoginLockState> RecordLoginFailure(const std::string& username,
                                                    const LockoutPolicy& policy) override {
    absl::MutexLock lock(&mu_);
    if (absl::Status down = MaybeFailLocked(); !down.ok()) return down;
    const absl::Time now = clock_.Now();
    Lockout& entry = lockouts_[username];
    std::erase_if(entry.failures, [&](absl::Time t) { return t <= now - policy.window; });
    entry.failures.push_back(now);
    if (static_cast<int>(entry.failures.size()) >= policy.max_failures) {
      entry.locked_until = now + policy.lock;
    }
    return StateLocked(entry, now);
  }

  absl::StatusOr<LoginLockState> GetLoginLock(const std::string& username) override {
    absl::MutexLock lock(&mu_);
    if (absl::Status down = MaybeFailLocked(); !down.ok()) return down;
    return StateLocked(lockouts_[username], clock_.Now());
  }

  absl::Status ResetLoginFailures(const std::string& username) override {
    absl::MutexLock lock(&mu_);
    if (absl::Status down = MaybeFailLocked(); !down.ok()) return down;
    lockouts_.erase(username);
    return absl::OkStatus();
  }

  absl::StatusOr<RefreshTokenGrant> CreateRefreshToken(int64_t user_id,
                                                       const std::string& token_hash,
                                                       const std::string& family_id,
                                                       absl::Time expire_time) override {
    absl::MutexLock lock(&mu_);
    if (absl::Status down = MaybeFailLocked(); !down.ok()) return down;
    if (token_hash.size() != 32) return absl::InvalidArgumentError("tokenHash: not 32 bytes");
    if (!users_.contains(user_id)) return absl::NotFoundError("no such user");
    Token token{.grant = {.user_id = user_id,
                          .family_id = family_id.empty() ? "family-" + std::to_string(++families_)
                                                         : family_id,
                          .expire_time = expire_time}};
    tokens_[token_hash] = token;
    return token.grant;
  }

  absl::StatusOr<RefreshTokenGrant> RotateRefreshToken(const std::string& presented_hash,
                                                       const std::string& successor_hash,
                                                       absl::Time successor_expire_time) override {
    absl::MutexLock lock(&mu_);
    if (absl::Status down = MaybeFailLocked(); !down.ok()) return down;
    ++lookups_;
    auto it = tokens_.find(presented_hash);
    if (it == tokens_.end()) return absl::UnauthenticatedError("unknown refresh token");
    Token& presented = it->second;
    if (revoked_families_.contains(presented.grant.family_id)) {
      return absl::UnauthenticatedError("refresh token revoked");
    }
    if (presented.used) {
      revoked_families_.insert(presented.grant.family_id);
      return absl::PermissionDeniedError("refresh token reused; family revoked");
    }
    if (presented.grant.expire_time <= clock_.Now()) {
      return absl::UnauthenticatedError("refresh token expired");
    }
    presented.used = true;
    Token successor{.grant = {.user_id = presented.grant.user_id,
                              .family_id = presented.grant.family_id,
                              .expire_time = successor_expire_time}};
    tokens_[successor_hash] = successor;
    return successor.grant;
  }

  absl::Status RevokeRefreshFamily(const std::string& token_hash) override {
    absl::MutexLock lock(&mu_);
    if (absl::Status down = MaybeFailLocked(); !down.ok()) return down;
    ++lookups_;
    auto it = tokens_.find(token_hash);
    if (it == tokens_.end()) return absl::NotFoundError("unknown refresh token");
    revoked_families_.insert(it->second.grant.family_id);
    return absl::OkStatus();
  }

 private:
  struct Lockout {
    std::vector<absl::Time> failures{};
    absl::Time locked_until = absl::InfinitePast();
  };
  struct Token {
    RefreshTokenGrant grant{};
    bool used = false;
  };

  bool LeavesNoAdminLocked(const UserRecord& before, const UserRecord* after)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto active = [](const UserRecord& user) { return user.role == "admin" && !user.disabled; };
    if (!active(before) || (after != nullptr && active(*after))) return false;
    for (const auto& [id, user] : users_) {
      if (id != before.id && active(user)) return false;
    }
    return true;
  }

  void RevokeUserLocked(int64_t id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (const auto& [hash, token] : tokens_) {
      if (token.grant.user_id == id) revoked_families_.insert(token.grant.family_id);
    }
  }

  absl::Status MaybeFailLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (failing_calls_ == 0) return absl::OkStatus();
    --failing_calls_;
    return absl::UnavailableError("storage is down");
  }

  static LoginLockState StateLocked(const Lockout& entry, absl::Time now) {
    const bool locked = now < entry.locked_until;
    return LoginLockState{.failures_in_window = static_cast<int>(entry.failures.size()),
                          .locked = locked,
                          .locked_until = locked ? entry.locked_until : absl::InfinitePast()};
  }

  const Clock& clock_;
  mutable absl::Mutex mu_;
  int failing_calls_ ABSL_GUARDED_BY(mu_) = 0;
  int lookups_ ABSL_GUARDED_BY(mu_) = 0;
  int families_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t last_user_id_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<int64_t, UserRecord> users_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Lockout> lockouts_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Token> tokens_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> revoked_families_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, ApiKeyRecord> keys_ ABSL_GUARDED_BY(mu_);
};

}  // namespace spine::gateway::testing
