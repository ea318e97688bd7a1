#include "services/gateway/auth/api_keys.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <array>
#include <memory>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "libs/auth/base64url.h"
#include "libs/core/log.h"
#include "libs/rpc/error_info.h"

namespace spine::gateway {
namespace {

constexpr size_t kPrefixBytes = 6;   // 12 hex characters: unique enough, short to show
constexpr size_t kSecretBytes = 32;  // 256 bits
constexpr size_t kPrefixChars = kPrefixBytes * 2;
constexpr size_t kSecretChars = 43;  // 32 bytes in unpadded base64url
constexpr size_t kKeyChars = kApiKeyPrefix.size() + kPrefixChars + 1 + kSecretChars;

std::string Sha256(absl::string_view text) {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest.data());
  return {reinterpret_cast<const char*>(digest.data()), digest.size()};
}

absl::Status Invalid() {
  // One answer for every failure: a caller learns nothing about which part was wrong.
  return rpc::WithErrorInfo(
      absl::UnauthenticatedError("the API key is invalid, expired or revoked"), "API_KEY_INVALID");
}

bool IsHex(absl::string_view text) {
  for (const char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<NewApiKey> MakeApiKey() {
  std::array<unsigned char, kPrefixBytes + kSecretBytes> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    return absl::InternalError("no randomness for an API key");
  }
  const char* raw = reinterpret_cast<const char*>(bytes.data());
  std::string prefix = absl::BytesToHexString(absl::string_view(raw, kPrefixBytes));
  std::string secret = Base64UrlEncode(std::string_view(raw + kPrefixBytes, kSecretBytes));
  std::string key = absl::StrCat(kApiKeyPrefix, prefix, "_", secret);
  return NewApiKey{
      .key = std::move(key), .prefix = std::move(prefix), .secret_hash = Sha256(secret)};
}

std::optional<ParsedApiKey> ParseApiKey(absl::string_view key) {
  if (key.size() != kKeyChars || !IsApiKey(key)) return std::nullopt;
  const absl::string_view prefix = key.substr(kApiKeyPrefix.size(), kPrefixChars);
  if (!IsHex(prefix) || key[kApiKeyPrefix.size() + kPrefixChars] != '_') return std::nullopt;
  const absl::string_view secret = key.substr(kKeyChars - kSecretChars);
  absl::StatusOr<std::string> raw =
      Base64UrlDecodeStrict(std::string_view(secret.data(), secret.size()));
  if (!raw.ok() || raw->size() != kSecretBytes) return std::nullopt;
  return ParsedApiKey{.prefix = std::string(prefix), .secret_hash = Sha256(secret)};
}

absl::Status CheckApiKeyScope(absl::string_view scope, absl::string_view method,
                              absl::string_view path) {
  const bool credentials =
      (absl::StartsWith(path, "/api/auth/") && path != "/api/auth/me") || path == "/api/apikeys" ||
      absl::StartsWith(path, "/api/apikeys/") ||
      (absl::StartsWith(path, "/api/users/") && absl::EndsWith(path, "/password"));
  if (credentials) {
    return rpc::WithErrorInfo(
        absl::PermissionDeniedError(
            absl::StrCat("an API key cannot manage credentials (", path, "); log in instead")),
        "API_KEY_SCOPE");
  }
  const bool reads = method == "GET" || method == "HEAD";
  if (scope == "write" || (scope == "read" && reads)) return absl::OkStatus();
  return rpc::WithErrorInfo(absl::PermissionDeniedError(absl::StrCat(
                                "API key scope '", scope, "' does not allow ", method, " ", path)),
                            "API_KEY_SCOPE");
}

ApiKeyGate::ApiKeyGate(UserStore& store, const JwtSigner& signer, SessionRevocations& revocations,
                       WorkerPool& pool, const Clock& clock, ApiKeyGateOptions options)
    : store_(store),
      signer_(signer),
      revocations_(revocations),
      pool_(pool),
      clock_(clock),
      options_(options) {}

void ApiKeyGate::Resolve(absl::string_view key, std::string method, std::string path,
                         std::function<void(absl::StatusOr<std::string>)> done) const {
  std::optional<ParsedApiKey> parsed = ParseApiKey(key);
  if (!parsed) return done(Invalid());
  if (auto quick = Quick(*parsed, method, path)) return done(*std::move(quick));
  auto shared_done =
      std::make_shared<std::function<void(absl::StatusOr<std::string>)>>(std::move(done));
  const absl::Status queued = pool_.Submit(
      [this, parsed = *std::move(parsed), method = std::move(method), path = std::move(path),
       shared_done] { (*shared_done)(LookUp(parsed, method, path)); });
  if (!queued.ok()) {
    (*shared_done)(absl::UnavailableError("too many requests being checked; retry shortly"));
  }
}

std::optional<absl::StatusOr<std::string>> ApiKeyGate::Quick(const ParsedApiKey& parsed,
                                                             const std::string& method,
                                                             const std::string& path) const {
  absl::MutexLock lock(&mu_);
  auto it = known_.find(parsed.prefix);
  if (it == known_.end()) return std::nullopt;
  const absl::Time now = clock_.Now();
  if (now - it->second.checked >= options_.ttl ||
      revocations_.UserChangedAt(absl::StrCat(it->second.key.user_id)) >= it->second.checked) {
    return std::nullopt;
  }
  return Admit(it->second, parsed, method, path);
}

absl::StatusOr<std::string> ApiKeyGate::LookUp(const ParsedApiKey& parsed,
                                               const std::string& method,
                                               const std::string& path) const {
  const absl::Time checked = clock_.Now();
  absl::StatusOr<ApiKeyRecord> key = store_.GetApiKeyByPrefix(parsed.prefix);
  if (absl::IsNotFound(key.status()) || absl::IsInvalidArgument(key.status())) return Invalid();
  if (!key.ok()) {
    log::Warn("cannot look up an API key", {{"error", std::string(key.status().message())}});
    return absl::UnavailableError("cannot check the API key now; retry shortly");
  }
  absl::StatusOr<UserRecord> user = store_.GetUserById(key->user_id);
  if (absl::IsNotFound(user.status())) return Invalid();
  if (!user.ok()) {
    log::Warn("cannot look up an API key's user",
              {{"error", std::string(user.status().message())}});
    return absl::UnavailableError("cannot check the API key now; retry shortly");
  }
  absl::MutexLock lock(&mu_);
  auto it = known_.find(parsed.prefix);
  if (it == known_.end()) {
    if (known_.size() >= options_.capacity) {
      absl::erase_if(known_, [&](const auto& entry) {
        return checked - entry.second.checked >= options_.ttl;
      });
      // Still full of fresh entries: start over rather than grow (they are only a cache).
      if (known_.size() >= options_.capacity) known_.clear();
    }
    it = known_.emplace(parsed.prefix, Known{}).first;
  }
  Known& known = it->second;
  // A changed role or name needs a new token; so does one minted for another key record.
  if (known.user.role != user->role || known.user.username != user->username ||
      known.key.id != key->id) {
    known.token.clear();
  }
  known.key = *std::move(key);
  known.user = *std::move(user);
  known.checked = checked;
  return Admit(known, parsed, method, path);
}

absl::StatusOr<std::string> ApiKeyGate::Admit(Known& known, const ParsedApiKey& parsed,
                                              const std::string& method,
                                              const std::string& path) const {
  // Every request compares the presented secret, cached entry or not, in constant time.
  if (known.key.secret_hash.size() != parsed.secret_hash.size() ||
      CRYPTO_memcmp(known.key.secret_hash.data(), parsed.secret_hash.data(),
                    parsed.secret_hash.size()) != 0) {
    return Invalid();
  }
  const absl::Time now = clock_.Now();
  if (known.key.revoke_time || known.key.expire_time <= now || known.user.disabled) {
    return Invalid();
  }
  if (absl::Status scope = CheckApiKeyScope(known.key.scope, method, path); !scope.ok()) {
    return scope;
  }
  // Re-minted once half its life has passed, so a forwarded token never expires in flight.
  if (known.token.empty() || known.claims.exp - now < signer_.ttl() / 2 ||
      revocations_.IsRevoked(known.claims.jti)) {
    AccessClaims claims;
    absl::StatusOr<std::string> token =
        signer_.Sign(absl::StrCat(known.user.id), known.user.username, known.user.role, &claims);
    if (!token.ok()) return token.status();
    revocations_.RecordIssued(absl::StrCat(known.user.id), absl::StrCat("apikey:", known.key.id),
                              /*refresh_hash=*/"", claims.jti, claims.exp);
    known.token = *std::move(token);
    known.claims = claims;
  }
  if (now - known.touched >= options_.touch_every) {
    known.touched = now;
    // Best effort, off the request's path: a lost write only makes last use look older.
    (void)pool_.Submit([this, id = known.key.id] {
      if (absl::Status touched = store_.TouchApiKey(id); !touched.ok()) {
        log::Warn("cannot record an API key's use", {{"error", std::string(touched.message())}});
      }
    });
  }
  return known.token;
}

void ApiKeyGate::Forget(const std::string& prefix) const {
  absl::MutexLock lock(&mu_);
  auto it = known_.find(prefix);
  if (it == known_.end()) return;
  if (!it->second.token.empty()) {
    revocations_.RevokeToken(it->second.claims.jti, it->second.claims.exp);
  }
  known_.erase(it);
}

}  // namespace spine::gateway
