#include "services/gateway/auth/service_token_source.h"

#include <utility>

namespace spine::gateway {

ServiceTokenSource::ServiceTokenSource(Ed25519PrivateKey key, const Clock& clock)
    : signer_(std::move(key), clock, kServiceTokenSourceTtl), clock_(clock) {}

absl::StatusOr<std::string> ServiceTokenSource::AuthorizationHeader() const {
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_.Now();
  if (now < renew_at_) return header_;
  // Same subject, name and role as `spine-gateway mint-service-token gateway` (service_token.h).
  absl::StatusOr<std::string> token = signer_.Sign("gateway", "spine-gateway", "service");
  if (!token.ok()) return token.status();
  header_ = "Bearer " + *token;
  renew_at_ = now + kServiceTokenSourceTtl / 2;
  return header_;
}

}  // namespace spine::gateway
