// ServiceTokenSource: the gateway's own service token, for its calls to internal RPCs
// (spine-storage's StorageService), minted with the gateway's signing key.
//
// Tokens live kServiceTokenSourceTtl and are re-minted once half of that has passed, on the next
// call. A short-lived token re-minted in process (one Ed25519 signature per half hour) is better
// than one minted for months at start: a token that leaks from a core dump or a debug log stops
// working within the hour, and a gateway that runs for longer than any fixed ttl never finds its
// token expired.
//
// Thread-safe.
#pragma once

#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/auth/ed25519_keys.h"
#include "libs/auth/jwt.h"
#include "libs/core/clock.h"

namespace spine::gateway {

inline constexpr absl::Duration kServiceTokenSourceTtl = absl::Hours(1);

class ServiceTokenSource {
 public:
  // `clock` must outlive the source.
  ServiceTokenSource(Ed25519PrivateKey key, const Clock& clock);

  // "Bearer <token>" for the `authorization` metadata, valid for at least half the ttl more.
  // INTERNAL only when signing fails.
  absl::StatusOr<std::string> AuthorizationHeader() const;

 private:
  const JwtSigner signer_;
  const Clock& clock_;
  mutable absl::Mutex mu_;
  mutable std::string header_ ABSL_GUARDED_BY(mu_);
  mutable absl::Time renew_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace spine::gateway
