// API keys for scripts: their format, their scopes, and ApiKeyGate, which turns a key presented
// at the HTTP edge into an access token the services accept.
//
// A key reads "spk_<prefix>_<secret>": 12 hex characters of public prefix (what storage finds it
// by, and what listings show) and 43 base64url characters of secret (256 random bits). Storage
// keeps SHA-256 of the secret. A plain hash, not scrypt like passwords: the secret is random with
// 256 bits of entropy, so there is nothing to guess a dictionary from and no need to make each
// guess slow, and every API request can afford one SHA-256 while it cannot afford 100 ms of
// scrypt. The hashes are compared with CRYPTO_memcmp, in constant time.
//
// Scopes, enforced here at the edge: "read" allows GET and HEAD; "write" every method. Neither
// reaches the credential routes — /api/auth/* (but GET /api/auth/me), /api/apikeys*, and
// /api/users/{id}/password — so a leaked key cannot mint more keys, change a password or outlive
// its revocation through a session.
//
// The services verify JWTs only, so the gateway mints one for the key's user (with the user's
// current name and role), remembers it with the key for `ttl`, and forwards it in the key's
// place; the client never sees it. The minted tokens are recorded in SessionRevocations under the
// user, so a user change (disable, role, delete) refuses them too.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/auth/jwt.h"
#include "libs/core/clock.h"
#include "libs/core/worker_pool.h"
#include "services/gateway/auth/session_revocations.h"
#include "services/gateway/auth/user_store.h"

namespace spine::gateway {

inline constexpr absl::string_view kApiKeyPrefix = "spk_";
inline constexpr int32_t kDefaultApiKeyDays = 90;
inline constexpr int32_t kMaxApiKeyDays = 365;

// A key just made: what the client is shown once, and what storage keeps.
struct NewApiKey {
  std::string key;          // spk_<prefix>_<secret>
  std::string prefix;       // 12 hex characters
  std::string secret_hash;  // SHA-256 of the secret part, 32 bytes
};
absl::StatusOr<NewApiKey> MakeApiKey();

// The parts of a presented key, or nullopt when it does not have the shape MakeApiKey makes.
struct ParsedApiKey {
  std::string prefix;
  std::string secret_hash;  // SHA-256 of the presented secret
};
std::optional<ParsedApiKey> ParseApiKey(absl::string_view key);

// Whether a bearer credential is an API key (rather than a JWT, which never starts so).
inline bool IsApiKey(absl::string_view bearer) { return bearer.substr(0, 4) == kApiKeyPrefix; }

// OK when a key of `scope` may call `method` on `path`; PERMISSION_DENIED (API_KEY_SCOPE) naming
// what it lacks otherwise.
absl::Status CheckApiKeyScope(absl::string_view scope, absl::string_view method,
                              absl::string_view path);

struct ApiKeyGateOptions {
  // How long a key's record and user are trusted before storage is asked again: a key revoked or
  // a user disabled through another gateway stops within this; through this one, at once.
  absl::Duration ttl = absl::Seconds(5);
  // last_use_time is written at most this often per key.
  absl::Duration touch_every = absl::Minutes(1);
  size_t capacity = 4096;
};

class ApiKeyGate {
 public:
  // All borrowed; they must outlive the gate. `signer` mints the forwarded tokens.
  ApiKeyGate(UserStore& store, const JwtSigner& signer, SessionRevocations& revocations,
             WorkerPool& pool, const Clock& clock, ApiKeyGateOptions options = {});

  // Calls `done` exactly once with the access token to forward in the key's place, or:
  // UNAUTHENTICATED (API_KEY_INVALID, one message for every case) for a malformed, unknown, wrong,
  // expired or revoked key or a disabled user; PERMISSION_DENIED (API_KEY_SCOPE) when the key's
  // scope does not allow `method` on `path`; UNAVAILABLE when storage cannot be asked. Inline
  // when the key is known, else from a pool thread. Never blocks.
  void Resolve(absl::string_view key, std::string method, std::string path,
               std::function<void(absl::StatusOr<std::string>)> done) const;

  // Forgets the key with `prefix` and refuses the token minted for it (a revoked key stops now).
  void Forget(const std::string& prefix) const;

 private:
  struct Known {
    ApiKeyRecord key;
    UserRecord user;
    std::string token;  // minted for the user; empty until the first use
    AccessClaims claims;
    absl::Time checked;
    absl::Time touched = absl::InfinitePast();
  };
  // The answer from a fresh cache entry, or nullopt when storage must be asked.
  std::optional<absl::StatusOr<std::string>> Quick(const ParsedApiKey& parsed,
                                                   const std::string& method,
                                                   const std::string& path) const;
  absl::StatusOr<std::string> LookUp(const ParsedApiKey& parsed, const std::string& method,
                                     const std::string& path) const;
  // Checks `known` against the presented key and the route, mints a token if needed and returns
  // it; schedules a last-use write when one is due.
  absl::StatusOr<std::string> Admit(Known& known, const ParsedApiKey& parsed,
                                    const std::string& method, const std::string& path) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  UserStore& store_;
  const JwtSigner& signer_;
  SessionRevocations& revocations_;
  WorkerPool& pool_;
  const Clock& clock_;
  const ApiKeyGateOptions options_;
  mutable absl::Mutex mu_;
  mutable absl::flat_hash_map<std::string, Known> known_ ABSL_GUARDED_BY(mu_);  // by prefix
};

}  // namespace spine::gateway
