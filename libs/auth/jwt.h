// Access tokens: JWS compact JWTs signed with Ed25519 (`alg: EdDSA`), as API.md describes.
//
// JwtSigner mints tokens (the auth service); JwtVerifier checks them (every service, on every
// request). The verifier accepts exactly what the signer produces and a little slack in time
// (30 s either way); everything else — other algorithms, unknown keys, re-spelled encodings,
// duplicate JSON keys, missing or mistyped claims — is UNAUTHENTICATED with a short reason that
// never repeats the token.
#pragma once

#include <cstddef>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/auth/ed25519_keys.h"
#include "libs/core/clock.h"

namespace spine {

// The issuer and audience of every Spine access token.
inline constexpr std::string_view kJwtIssuer = "spine";
inline constexpr std::string_view kJwtAudience = "spine";
// Tolerated clock skew between the signer and a verifier, applied to exp, nbf and iat.
inline constexpr absl::Duration kJwtLeeway = absl::Seconds(30);
// Longer tokens are rejected before any decoding.
inline constexpr size_t kJwtMaxTokenBytes = size_t{8} * 1024;

// The claims of an access token. `iss` and `aud` are always "spine" and so are not stored.
// Times are whole seconds (JWT NumericDate).
struct AccessClaims {
  std::string sub;   // user id
  std::string name;  // user name, for display and logs
  std::string role;  // "user", "admin" or "service" (service-to-service calls)
  absl::Time iat;
  absl::Time exp;
  std::optional<absl::Time> nbf;
  std::string jti;  // unique token id

  bool operator==(const AccessClaims&) const = default;
};

// Mints access tokens with one private key. Thread-safe (all methods are const).
class JwtSigner {
 public:
  // `clock` must outlive the signer. Tokens live `ttl` from their issue time.
  JwtSigner(Ed25519PrivateKey key, const Clock& clock, absl::Duration ttl = absl::Minutes(15));

  // Mints a token for sub/name/role with iat = now (whole seconds), exp = iat + ttl and a random
  // 128-bit jti. INVALID_ARGUMENT when sub is empty, role is not "user"/"admin", a string is not
  // valid UTF-8, or the token would exceed kJwtMaxTokenBytes. When `issued` is given it receives
  // the token's claims (its jti and exp are what a revocation list needs).
  absl::StatusOr<std::string> Sign(std::string_view sub, std::string_view name,
                                   std::string_view role, AccessClaims* issued = nullptr) const;
  // Signs exactly these claims (sub-second parts of the times are dropped), without checking
  // them, so tests can mint expired or not-yet-valid tokens. INVALID_ARGUMENT only when the
  // claims cannot be encoded (invalid UTF-8).
  absl::StatusOr<std::string> SignClaims(const AccessClaims& claims) const;

  // The `kid` put in every token header: the derived key id of the signing key.
  const std::string& key_id() const { return key_.KeyId(); }
  absl::Duration ttl() const { return ttl_; }

 private:
  Ed25519PrivateKey key_;
  const Clock& clock_;
  absl::Duration ttl_;
};

// Verifies access tokens against a set of public keys selected by `kid` (several keys allow
// rotation). Thread-safe: Verify may be called from any number of threads at once.
//
// Successful verifications are remembered in a bounded cache keyed by SHA-256 of the token, so a
// client reusing its token costs one hash, not a signature check. A cached entry is used only
// while the token is still unexpired by the same rule as a full verification.
class JwtVerifier {
 public:
  // `clock` must outlive the verifier. Keys with the same key id are kept once. A
  // `cache_capacity` of 0 disables the cache.
  JwtVerifier(std::vector<Ed25519PublicKey> keys, const Clock& clock, size_t cache_capacity = 4096);

  // Full verification: size, segment structure, strict base64url, header (alg EdDSA, known kid,
  // no duplicates), Ed25519 signature, then the claims (iss/aud "spine", required claims with
  // their types, role user|admin, exp/nbf/iat within kJwtLeeway of now). Returns the claims, or
  // UNAUTHENTICATED with a "jwt: ..." reason.
  absl::StatusOr<AccessClaims> Verify(std::string_view token) const;

  // Number of tokens in the verified-token cache, at most cache_capacity.
  size_t cache_size() const;

 private:
  struct CacheEntry {
    AccessClaims claims;
    std::list<std::string>::iterator order;  // position in insertion_order_
  };

  absl::StatusOr<AccessClaims> VerifyUncached(std::string_view token, absl::Time now) const;
  // Looks `digest` up; drops and reports the entry when it has expired meanwhile.
  std::optional<absl::StatusOr<AccessClaims>> CacheLookup(const std::string& digest,
                                                          absl::Time now) const;
  void CacheInsert(const std::string& digest, const AccessClaims& claims, absl::Time now) const;
  void CacheEraseLocked(absl::flat_hash_map<std::string, CacheEntry>::iterator it) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::flat_hash_map<std::string, Ed25519PublicKey> keys_by_id_;
  const Clock& clock_;
  const size_t cache_capacity_;

  mutable absl::Mutex mu_;
  mutable absl::flat_hash_map<std::string, CacheEntry> cache_ ABSL_GUARDED_BY(mu_);
  // Digests from oldest to newest insertion: the eviction order once expired entries are gone.
  mutable std::list<std::string> insertion_order_ ABSL_GUARDED_BY(mu_);
};

}  // namespace spine
