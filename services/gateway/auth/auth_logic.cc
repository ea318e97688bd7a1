#include "services/gateway/auth/auth_logic.h"

#include <openssl/rand.h>
#include <openssl/sha.h>

#include <array>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "libs/auth/base64url.h"
#include "libs/core/log.h"
#include "libs/core/status.h"
#include "libs/rpc/error_info.h"
#include "services/gateway/auth/api_keys.h"

namespace spine::gateway {
namespace {

constexpr size_t kRefreshTokenBytes = 32;
// Longest name storage will look up; anything longer cannot be a user and is not sent there.
constexpr size_t kMaxLookupNameBytes = 64;
constexpr char kBadRefreshToken[] = "refresh token is invalid, expired or revoked";

// 32 random bytes, base64url: an opaque token with 256 bits of entropy.
absl::StatusOr<std::string> NewRefreshToken() {
  std::array<unsigned char, kRefreshTokenBytes> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    return absl::InternalError("no randomness for a refresh token");
  }
  return Base64UrlEncode(
      std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

// What storage keeps instead of the token: SHA-256 of its text, 32 raw bytes.
std::string TokenHash(std::string_view token) {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), digest.data());
  return {reinterpret_cast<const char*>(digest.data()), digest.size()};
}

// Whether `token` has the shape NewRefreshToken produces; others are rejected without a lookup.
bool IsWellFormedRefreshToken(std::string_view token) {
  if (token.size() != 43) return false;  // 32 bytes in unpadded base64url
  absl::StatusOr<std::string> raw = Base64UrlDecodeStrict(token);
  return raw.ok() && raw->size() == kRefreshTokenBytes;
}

// RFC 3339 in UTC with a `Z`, as API.md writes times.
std::string Rfc3339Utc(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

int32_t Seconds(absl::Duration d) { return static_cast<int32_t>(absl::ToInt64Seconds(d)); }

AuthUser ToAuthUser(const UserRecord& record) {
  return AuthUser{.id = record.id,
                  .username = record.username,
                  .role = record.role,
                  .disabled = record.disabled};
}

absl::Status CheckRole(const std::string& role) {
  if (role == "user" || role == "admin") return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("role: '", absl::CEscape(role.substr(0, 16)), "' must be user or admin"));
}

// Storage's errors for a user change, with the reasons clients switch on.
absl::Status UserChangeError(absl::Status status, int64_t id) {
  if (absl::IsNotFound(status)) {
    return rpc::WithErrorInfo(absl::NotFoundError(absl::StrCat("user ", id, " not found")),
                              "USER_NOT_FOUND");
  }
  if (absl::IsAborted(status)) {
    return rpc::WithErrorInfo(
        absl::AbortedError(absl::StrCat("user ", id,
                                        " is the last enabled admin; make another user an admin "
                                        "first")),
        kLastAdminReason);
  }
  return status;
}

}  // namespace

absl::Status CheckUsername(absl::string_view username) {
  bool ok = username.size() >= 3 && username.size() <= 32;
  for (const char c : username) {
    ok = ok &&
         ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-');
  }
  if (ok) return absl::OkStatus();
  // Echo a bounded prefix only: the value may be anything a client sent.
  return absl::InvalidArgumentError(absl::StrCat(
      "username: '", absl::CEscape(username.substr(0, 40)), username.size() > 40 ? "...'" : "'",
      " must be 3..32 characters of a-z, 0-9, '_', '.' or '-'"));
}

AuthLogic::AuthLogic(UserStore& store, const JwtSigner& signer, const Clock& clock,
                     AuthLogicOptions options)
    : store_(store), signer_(signer), clock_(clock), options_(std::move(options)) {}

absl::StatusOr<SessionTokens> AuthLogic::Login(const std::string& username,
                                               const std::string& password,
                                               const std::string& client) const {
  const absl::Status invalid = absl::UnauthenticatedError(kInvalidCredentials);
  if (username.empty() || username.size() > kMaxLookupNameBytes) {
    // Cannot name a user; still pay for one verification like any other miss.
    (void)options_.hashing.dummy_verify(password);
    return invalid;
  }
  // Storage looks names up case-insensitively, so the failure count is per lower-cased name:
  // "Admin" and "admin" share one budget. The client comes first: storage keys hold at most
  // kMaxLookupNameBytes, and a cut may only ever shorten a name too long to be a user's.
  const std::string lockout_key = client.empty()
                                      ? absl::AsciiStrToLower(username)
                                      : absl::StrCat(client, " ", absl::AsciiStrToLower(username))
                                            .substr(0, kMaxLookupNameBytes);
  SPINE_ASSIGN_OR_RETURN(const LoginLockState lock, store_.GetLoginLock(lockout_key));
  if (lock.locked) {
    const absl::Duration left = absl::Ceil(lock.locked_until - clock_.Now(), absl::Seconds(1));
    return absl::ResourceExhaustedError(absl::StrCat(
        "too many failed logins for this username from your address; locked until ",
        Rfc3339Utc(lock.locked_until), " (retry in ", absl::ToInt64Seconds(left), " s)"));
  }

  absl::StatusOr<UserRecord> user = store_.GetUserByName(username);
  bool password_ok = false;
  if (user.ok()) {
    absl::StatusOr<bool> verified = VerifyPassword(password, user->password_hash);
    if (!verified.ok()) {
      // A stored hash we cannot read is our fault, not the client's; never say which user.
      log::Error("stored password hash is unusable",
                 {{"user_id", absl::StrCat(user->id)},
                  {"error", std::string(verified.status().message())}});
      return absl::InternalError("cannot verify the password");
    }
    // A disabled account cannot log in; it gets the same answer as a wrong password, so a
    // guesser learns nothing about the account.
    password_ok = *verified && !user->disabled;
  } else if (absl::IsNotFound(user.status())) {
    SPINE_RETURN_IF_ERROR(options_.hashing.dummy_verify(password));
  } else {
    return user.status();
  }

  if (!password_ok) {
    absl::StatusOr<LoginLockState> after = store_.RecordLoginFailure(lockout_key, options_.lockout);
    if (!after.ok()) {
      // The guess was wrong either way; the client gets the same answer.
      log::Warn("cannot record a failed login", {{"error", std::string(after.status().message())}});
    } else if (after->locked) {
      log::Warn("username locked after repeated failed logins",
                {{"username", lockout_key}, {"until", Rfc3339Utc(after->locked_until)}});
      if (options_.audit != nullptr) {
        options_.audit->Record(AuthEvent{
            .actor = kGatewayActor,
            .action = "auth.lockout",
            .target = absl::StrCat("username:", username),
            .outcome = "denied",
            .details = {{"clientIp", client}, {"until", Rfc3339Utc(after->locked_until)}}});
      }
    }
    return invalid;
  }
  if (lock.failures_in_window > 0) {
    if (absl::Status reset = store_.ResetLoginFailures(lockout_key); !reset.ok()) {
      log::Warn("cannot reset failed logins", {{"error", std::string(reset.message())}});
    }
  }
  return IssueSession(*user);
}

absl::StatusOr<SessionTokens> AuthLogic::IssueSession(const UserRecord& user) const {
  SPINE_ASSIGN_OR_RETURN(std::string refresh_token, NewRefreshToken());
  SPINE_ASSIGN_OR_RETURN(
      const RefreshTokenGrant grant,
      store_.CreateRefreshToken(user.id, TokenHash(refresh_token),
                                /*family_id=*/"", clock_.Now() + options_.refresh_ttl));
  return Tokens(user, std::move(refresh_token), grant.family_id);
}

absl::StatusOr<AuthUser> AuthLogic::Update(int64_t id, const UserUpdate& update) const {
  absl::StatusOr<UserRecord> updated = store_.UpdateUser(id, update);
  if (!updated.ok()) return UserChangeError(updated.status(), id);
  // The user's live access tokens carry what just changed (role) or belong to sessions that just
  // ended (password, disabled): stop them now in this gateway; the session gate catches up
  // elsewhere within its cache time.
  if (options_.revocations != nullptr) options_.revocations->RevokeUser(absl::StrCat(id));
  return ToAuthUser(*updated);
}

absl::Status AuthLogic::ChangePassword(const std::string& user_id, const std::string& old_password,
                                       const std::string& new_password) const {
  int64_t id = 0;
  if (!absl::SimpleAtoi(user_id, &id) || id <= 0) {
    return absl::PermissionDeniedError("only a user can change its password");
  }
  absl::StatusOr<UserRecord> user = store_.GetUserById(id);
  if (absl::IsNotFound(user.status())) {
    return absl::UnauthenticatedError("the token's user no longer exists");
  }
  if (!user.ok()) return user.status();
  absl::StatusOr<bool> verified = VerifyPassword(old_password, user->password_hash);
  if (!verified.ok()) return absl::InternalError("cannot verify the password");
  if (!*verified) {
    return rpc::WithErrorInfo(absl::PermissionDeniedError("oldPassword: incorrect"),
                              kWrongPasswordReason);
  }
  if (absl::Status policy = CheckPasswordPolicy(new_password); !policy.ok()) {
    // The policy names "password"; this request's field is newPassword.
    return absl::InvalidArgumentError(
        absl::StrCat("newP", absl::StripPrefix(policy.message(), "p")));
  }
  SPINE_ASSIGN_OR_RETURN(std::string hash,
                         options_.hashing.hash(new_password, options_.hashing.params));
  return Update(id, UserUpdate{.password_hash = std::move(hash)}).status();
}

absl::Status AuthLogic::ResetPassword(int64_t id, const std::string& password) const {
  SPINE_RETURN_IF_ERROR(CheckPasswordPolicy(password));
  SPINE_ASSIGN_OR_RETURN(std::string hash,
                         options_.hashing.hash(password, options_.hashing.params));
  return Update(id, UserUpdate{.password_hash = std::move(hash)}).status();
}

absl::StatusOr<AuthUser> AuthLogic::SetRole(int64_t id, const std::string& role) const {
  SPINE_RETURN_IF_ERROR(CheckRole(role));
  return Update(id, UserUpdate{.role = role});
}

absl::StatusOr<AuthUser> AuthLogic::SetDisabled(int64_t id, bool disabled) const {
  return Update(id, UserUpdate{.disabled = disabled});
}

absl::Status AuthLogic::DeleteUser(int64_t id) const {
  if (absl::Status deleted = store_.DeleteUser(id); !deleted.ok()) {
    return UserChangeError(deleted, id);
  }
  if (options_.revocations != nullptr) options_.revocations->RevokeUser(absl::StrCat(id));
  log::Info("user deleted", {{"user_id", absl::StrCat(id)}});
  return absl::OkStatus();
}

absl::StatusOr<CreatedApiKey> AuthLogic::CreateApiKey(int64_t owner_id, const std::string& name,
                                                      const std::string& scope,
                                                      int32_t expires_in_days) const {
  if (name.empty() || name.size() > 64) {
    return absl::InvalidArgumentError("name: must be 1..64 characters");
  }
  const std::string effective_scope = scope.empty() ? "read" : scope;
  if (effective_scope != "read" && effective_scope != "write") {
    return absl::InvalidArgumentError(
        absl::StrCat("scope: '", absl::CEscape(scope.substr(0, 16)), "' must be read or write"));
  }
  if (expires_in_days < 0 || expires_in_days > kMaxApiKeyDays) {
    return absl::InvalidArgumentError(
        absl::StrCat("expiresInDays: ", expires_in_days, " must be 1..", kMaxApiKeyDays));
  }
  const int32_t days = expires_in_days == 0 ? kDefaultApiKeyDays : expires_in_days;
  SPINE_ASSIGN_OR_RETURN(NewApiKey fresh, MakeApiKey());
  absl::StatusOr<ApiKeyRecord> stored =
      store_.CreateApiKey(ApiKeyRecord{.user_id = owner_id,
                                       .name = name,
                                       .scope = effective_scope,
                                       .prefix = fresh.prefix,
                                       .secret_hash = fresh.secret_hash,
                                       .expire_time = clock_.Now() + absl::Hours(24) * days});
  if (absl::IsNotFound(stored.status())) return UserChangeError(stored.status(), owner_id);
  if (!stored.ok()) return stored.status();
  return CreatedApiKey{.key = *std::move(stored), .secret = std::move(fresh.key)};
}

absl::StatusOr<std::vector<ApiKeyRecord>> AuthLogic::ListApiKeys(int64_t owner_id) const {
  return store_.ListApiKeys(owner_id);
}

absl::StatusOr<ApiKeyRecord> AuthLogic::RevokeApiKey(int64_t owner_id, int64_t id) const {
  absl::StatusOr<ApiKeyRecord> revoked = store_.RevokeApiKey(owner_id, id);
  if (absl::IsNotFound(revoked.status())) {
    return rpc::WithErrorInfo(absl::NotFoundError(absl::StrCat("API key ", id, " not found")),
                              "API_KEY_NOT_FOUND");
  }
  return revoked;
}

absl::StatusOr<SessionTokens> AuthLogic::Tokens(const UserRecord& user, std::string refresh_token,
                                                const std::string& family_id) const {
  AccessClaims issued;
  SPINE_ASSIGN_OR_RETURN(std::string access_token,
                         signer_.Sign(absl::StrCat(user.id), user.username, user.role, &issued));
  if (options_.revocations != nullptr) {
    options_.revocations->RecordIssued(absl::StrCat(user.id), family_id, TokenHash(refresh_token),
                                       issued.jti, issued.exp);
  }
  return SessionTokens{.access_token = std::move(access_token),
                       .token_type = "Bearer",
                       .expires_in = Seconds(signer_.ttl()),
                       .refresh_token = std::move(refresh_token),
                       .refresh_expires_in = Seconds(options_.refresh_ttl),
                       .user_id = user.id};
}

absl::StatusOr<SessionTokens> AuthLogic::Refresh(const std::string& refresh_token) const {
  if (!IsWellFormedRefreshToken(refresh_token)) {
    return absl::UnauthenticatedError(kBadRefreshToken);
  }
  SPINE_ASSIGN_OR_RETURN(std::string successor, NewRefreshToken());
  const std::string successor_hash = TokenHash(successor);
  absl::StatusOr<RefreshTokenGrant> grant = store_.RotateRefreshToken(
      TokenHash(refresh_token), successor_hash, clock_.Now() + options_.refresh_ttl);
  if (absl::IsPermissionDenied(grant.status())) {
    // Someone presented a spent token: either the client replayed it or it was stolen. Storage
    // has revoked the family, so the legitimate holder must log in again too.
    log::Warn("refresh token reuse; its session family is revoked");
    if (options_.audit != nullptr) {
      options_.audit->Record(AuthEvent{.actor = kGatewayActor,
                                       .action = "auth.refresh.reuse",
                                       .target = "session",
                                       .outcome = "denied"});
    }
    if (options_.revocations != nullptr) {
      options_.revocations->RevokeFamilyOf(TokenHash(refresh_token));
    }
    return absl::UnauthenticatedError(
        "refresh token was already used; the session is revoked, log in again");
  }
  if (absl::IsUnauthenticated(grant.status())) return absl::UnauthenticatedError(kBadRefreshToken);
  if (!grant.ok()) return grant.status();

  absl::StatusOr<UserRecord> user = store_.GetUserById(grant->user_id);
  if (absl::IsNotFound(user.status())) {
    (void)store_.RevokeRefreshFamily(successor_hash);
    return absl::UnauthenticatedError(kBadRefreshToken);
  }
  if (!user.ok()) return user.status();
  if (user->disabled) {
    (void)store_.RevokeRefreshFamily(successor_hash);
    return rpc::WithErrorInfo(absl::UnauthenticatedError("the account is disabled"),
                              "ACCOUNT_DISABLED");
  }
  return Tokens(*user, std::move(successor), grant->family_id);
}

absl::Status AuthLogic::Logout(const std::string& refresh_token) const {
  if (refresh_token.empty()) return absl::InvalidArgumentError("refreshToken: required");
  if (!IsWellFormedRefreshToken(refresh_token)) return absl::OkStatus();
  const std::string hash = TokenHash(refresh_token);
  absl::Status revoked = store_.RevokeRefreshFamily(hash);
  // Its access tokens stop here whatever storage answered: revoking more is never wrong.
  if (options_.revocations != nullptr) options_.revocations->RevokeFamilyOf(hash);
  if (absl::IsNotFound(revoked)) return absl::OkStatus();
  return revoked;
}

absl::StatusOr<AuthUser> AuthLogic::GetMe(const std::string& user_id) const {
  int64_t id = 0;
  if (!absl::SimpleAtoi(user_id, &id) || id <= 0) {
    return absl::UnauthenticatedError("the token's subject is not a user");
  }
  absl::StatusOr<UserRecord> user = store_.GetUserById(id);
  if (absl::IsNotFound(user.status())) {
    return absl::UnauthenticatedError("the token's user no longer exists");
  }
  if (!user.ok()) return user.status();
  return ToAuthUser(*user);
}

absl::StatusOr<AuthUser> AuthLogic::CreateUser(const std::string& username,
                                               const std::string& password,
                                               const std::string& role) const {
  SPINE_RETURN_IF_ERROR(CheckUsername(username));
  SPINE_RETURN_IF_ERROR(CheckPasswordPolicy(password));
  if (role != "user" && role != "admin") {
    return absl::InvalidArgumentError(
        absl::StrCat("role: '", absl::CEscape(role.substr(0, 16)), "' must be user or admin"));
  }
  SPINE_ASSIGN_OR_RETURN(std::string hash,
                         options_.hashing.hash(password, options_.hashing.params));
  absl::StatusOr<UserRecord> created = store_.CreateUser(username, role, hash);
  if (absl::IsAlreadyExists(created.status())) {
    return absl::AlreadyExistsError(absl::StrCat("username: '", username, "' already exists"));
  }
  if (!created.ok()) return created.status();
  log::Info("user created", {{"user_id", absl::StrCat(created->id)}, {"role", created->role}});
  return ToAuthUser(*created);
}

absl::StatusOr<std::vector<AuthUser>> AuthLogic::ListUsers() const {
  SPINE_ASSIGN_OR_RETURN(const std::vector<UserRecord> records, store_.ListUsers());
  std::vector<AuthUser> users;
  users.reserve(records.size());
  for (const UserRecord& record : records) users.push_back(ToAuthUser(record));
  return users;
}

absl::StatusOr<bool> AuthLogic::EnsureFirstAdmin(const std::string& username,
                                                 const std::string& password) const {
  SPINE_ASSIGN_OR_RETURN(const int64_t count, store_.CountUsers());
  if (count > 0) return false;
  SPINE_RETURN_IF_ERROR(CheckUsername(username));
  SPINE_RETURN_IF_ERROR(CheckPasswordPolicy(password));
  SPINE_ASSIGN_OR_RETURN(std::string hash,
                         options_.hashing.hash(password, options_.hashing.params));
  absl::StatusOr<UserRecord> created = store_.CreateUser(username, "admin", hash);
  if (absl::IsAlreadyExists(created.status())) return false;
  if (!created.ok()) return created.status();
  log::Info("first admin created", {{"user_id", absl::StrCat(created->id)}});
  return true;
}

}  // namespace spine::gateway
