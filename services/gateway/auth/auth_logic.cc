#include "services/gateway/auth/auth_logic.h"

#include <openssl/rand.h>
#include <openssl/sha.h>

#include <array>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "libs/auth/base64url.h"
#include "libs/core/log.h"
#include "libs/core/status.h"

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
  return AuthUser{.id = record.id, .username = record.username, .role = record.role};
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
    password_ok = *verified;
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

absl::StatusOr<SessionTokens> AuthLogic::Tokens(const UserRecord& user, std::string refresh_token,
                                                const std::string& family_id) const {
  AccessClaims issued;
  SPINE_ASSIGN_OR_RETURN(std::string access_token,
                         signer_.Sign(absl::StrCat(user.id), user.username, user.role, &issued));
  if (options_.revocations != nullptr) {
    options_.revocations->RecordIssued(family_id, TokenHash(refresh_token), issued.jti, issued.exp);
  }
  return SessionTokens{.access_token = std::move(access_token),
                       .token_type = "Bearer",
                       .expires_in = Seconds(signer_.ttl()),
                       .refresh_token = std::move(refresh_token),
                       .refresh_expires_in = Seconds(options_.refresh_ttl)};
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
