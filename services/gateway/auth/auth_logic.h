// AuthLogic: sessions and users as API.md's "Authentication" section describes them — login with
// lockout, access JWTs and rotating single-use refresh tokens, logout, the caller's profile, and
// user administration — over a UserStore.
//
// Every method is synchronous and may block: on the UserStore (network calls with deadlines) and,
// for Login, CreateUser and EnsureFirstAdmin, on one scrypt derivation (~100 ms of CPU at
// production parameters). Callers run those three on a WorkerPool, never on an I/O thread.
//
// Thread-safe: all methods are const over immutable state; the store, signer and clock are
// thread-safe and must outlive the logic.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "libs/auth/jwt.h"
#include "libs/auth/password_hash.h"
#include "libs/core/clock.h"
#include "services/gateway/auth/audit_events.h"
#include "services/gateway/auth/session_revocations.h"
#include "services/gateway/auth/user_store.h"

namespace spine::gateway {

// The message of every failed login, whether the username exists or not.
inline constexpr char kInvalidCredentials[] = "invalid username or password";

// A user as the API shows it (no password hash).
struct AuthUser {
  int64_t id = 0;
  std::string username{};
  std::string role{};
  bool disabled = false;
};

// An API key just created: its record and the one time its secret is shown.
struct CreatedApiKey {
  ApiKeyRecord key{};
  std::string secret{};  // "spk_<prefix>_<secret>"
};

// The reasons clients switch on for the user administration errors.
inline constexpr char kLastAdminReason[] = "LAST_ADMIN";
inline constexpr char kWrongPasswordReason[] = "WRONG_PASSWORD";

// What Login and Refresh return (auth.proto SessionTokens).
struct SessionTokens {
  std::string access_token{};
  std::string token_type{};  // always "Bearer"
  int32_t expires_in = 0;    // seconds
  std::string refresh_token{};
  int32_t refresh_expires_in = 0;  // seconds
  int64_t user_id = 0;             // whose session (for the audit log; not sent)
};

// How passwords are hashed. Production uses the defaults; unit tests swap in
// HashPasswordForTesting with cheap parameters and a matching dummy verification.
struct PasswordHashing {
  std::function<absl::StatusOr<std::string>(std::string_view, const ScryptParams&)> hash =
      HashPassword;
  // Burns the time of one verification for an unknown username (see DummyVerify).
  std::function<absl::Status(std::string_view)> dummy_verify = DummyVerify;
  ScryptParams params{};
};

struct AuthLogicOptions {
  absl::Duration refresh_ttl = absl::Hours(24 * 30);
  LockoutPolicy lockout{};
  PasswordHashing hashing{};
  // Told of every access token issued and every family revoked, so revoked sessions' access
  // tokens stop working at once; optional (null: they live out their lifetime). Borrowed.
  SessionRevocations* revocations = nullptr;
  // Where lockouts and refresh-token reuse are recorded (the service records the rest, knowing
  // the caller); optional, borrowed.
  const AuthAudit* audit = nullptr;
};

class AuthLogic {
 public:
  // `signer` mints the access tokens (its ttl is the access-token lifetime).
  AuthLogic(UserStore& store, const JwtSigner& signer, const Clock& clock,
            AuthLogicOptions options = {});

  // Checks the password and opens a session (a new refresh-token family). UNAUTHENTICATED
  // kInvalidCredentials for an unknown username or a wrong password alike (an unknown username
  // costs one dummy verification, so timing does not tell them apart); RESOURCE_EXHAUSTED naming
  // the unlock time while the username is locked out for this client. Failures count per
  // (client, username), the username case-insensitively, whether or not the user exists; a
  // success clears them. `client` is the caller's rate-limit key (an IPv4 address or IPv6 /64):
  // keying by it means a stranger's wrong guesses lock out the stranger, never the account's
  // owner elsewhere — the per-IP rate limit bounds how fast any one client guesses. Empty
  // `client`: the username alone is the key.
  absl::StatusOr<SessionTokens> Login(const std::string& username, const std::string& password,
                                      const std::string& client = "") const;

  // Rotates a refresh token: the presented one is spent, a successor in the same family and a
  // fresh access token (with the user's current name and role) are returned. UNAUTHENTICATED for
  // a malformed, unknown, expired or revoked token, and for a token already used — in that last
  // case the whole family has been revoked (stolen-token detection).
  absl::StatusOr<SessionTokens> Refresh(const std::string& refresh_token) const;

  // Revokes the family of `refresh_token`, its access tokens included. Idempotent: an unknown,
  // malformed or already revoked token is OK too, so logout never reveals whether a token existed.
  // INVALID_ARGUMENT only when the token is empty.
  absl::Status Logout(const std::string& refresh_token) const;

  // The user `user_id` (an access token's `sub`) as stored now. UNAUTHENTICATED when the subject
  // is not a user id or the user no longer exists.
  absl::StatusOr<AuthUser> GetMe(const std::string& user_id) const;

  // Creates a user after validating it: username ^[a-z0-9_.-]{3,32}$, the password policy
  // (12..128 characters), role "user" or "admin" (INVALID_ARGUMENT naming the field).
  // ALREADY_EXISTS when the username is taken. Authorisation (admin only) is the caller's job.
  absl::StatusOr<AuthUser> CreateUser(const std::string& username, const std::string& password,
                                      const std::string& role) const;

  absl::StatusOr<std::vector<AuthUser>> ListUsers() const;

  // Changes the password of `user_id` (a token's sub) after checking `old_password`:
  // PERMISSION_DENIED (kWrongPasswordReason) when it is wrong, and nothing changes;
  // INVALID_ARGUMENT naming newPassword when it breaks the policy. Every session of the user ends.
  // Two scrypt derivations: run on a WorkerPool.
  absl::Status ChangePassword(const std::string& user_id, const std::string& old_password,
                              const std::string& new_password) const;
  // An admin's: sets the password of user `id`; every session of that user ends. One scrypt
  // derivation.
  absl::Status ResetPassword(int64_t id, const std::string& password) const;
  // Role "user" or "admin"; the user's live access tokens stop (they carry the old role).
  absl::StatusOr<AuthUser> SetRole(int64_t id, const std::string& role) const;
  // A disabled user cannot log in or refresh and its live tokens stop; enabling lets it log in.
  absl::StatusOr<AuthUser> SetDisabled(int64_t id, bool disabled) const;
  // Deletes the user and all its data (user_store.h).
  absl::Status DeleteUser(int64_t id) const;
  // These four and ResetPassword: NOT_FOUND for an unknown user; ABORTED (kLastAdminReason) when
  // no enabled admin would be left.

  // Creates an API key for `owner_id`: name 1..64 characters, scope "read" (default) or "write",
  // 1..365 days (0: 90). The secret is 256 random bits; storage keeps its SHA-256.
  absl::StatusOr<CreatedApiKey> CreateApiKey(int64_t owner_id, const std::string& name,
                                             const std::string& scope,
                                             int32_t expires_in_days) const;
  absl::StatusOr<std::vector<ApiKeyRecord>> ListApiKeys(int64_t owner_id) const;
  // Revokes key `id` of `owner_id` (0: anyone's). NOT_FOUND otherwise.
  absl::StatusOr<ApiKeyRecord> RevokeApiKey(int64_t owner_id, int64_t id) const;

  // Creates the first admin when the store holds no users at all. Returns true when it created
  // one, false when users already exist (also when another gateway won the race). Errors from the
  // store (e.g. UNAVAILABLE) are returned for the caller to retry.
  absl::StatusOr<bool> EnsureFirstAdmin(const std::string& username,
                                        const std::string& password) const;

 private:
  // Stores a new refresh token in a new family and returns it with an access token for `user`.
  absl::StatusOr<SessionTokens> IssueSession(const UserRecord& user) const;
  // Applies `update` to user `id` and ends the user's live access tokens.
  absl::StatusOr<AuthUser> Update(int64_t id, const UserUpdate& update) const;
  // Mints an access token for `user` and packs it with `refresh_token` of `family_id`.
  absl::StatusOr<SessionTokens> Tokens(const UserRecord& user, std::string refresh_token,
                                       const std::string& family_id) const;

  UserStore& store_;
  const JwtSigner& signer_;
  const Clock& clock_;
  const AuthLogicOptions options_;
};

// Checks a username against API.md's rule ^[a-z0-9_.-]{3,32}$. INVALID_ARGUMENT otherwise.
absl::Status CheckUsername(absl::string_view username);

}  // namespace spine::gateway
