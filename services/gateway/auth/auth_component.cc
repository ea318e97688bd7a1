#include "services/gateway/auth/auth_component.h"

#include <utility>

#include "libs/core/log.h"
#include "libs/core/status.h"
#include "libs/rpc/channel.h"

namespace spine::gateway {

absl::StatusOr<std::unique_ptr<AuthComponent>> AuthComponent::Create(
    const GatewayConfig& config, const Clock& clock, const rpc::Authenticator& authenticator,
    const JwtVerifier& verifier, const EdgeIdentity& edge, RateLimiter* limiter) {
  const CommonConfig& common = config.common;
  // The key is move-only and each signer owns one, so it is read once per signer.
  SPINE_ASSIGN_OR_RETURN(Ed25519PrivateKey user_key,
                         Ed25519PrivateKey::FromPemFile(config.jwt_private_key_file));
  SPINE_ASSIGN_OR_RETURN(Ed25519PrivateKey service_key,
                         Ed25519PrivateKey::FromPemFile(config.jwt_private_key_file));

  std::unique_ptr<AuthComponent> component(new AuthComponent());
  component->signer_ = std::make_unique<JwtSigner>(std::move(user_key), clock);
  component->service_tokens_ = std::make_unique<ServiceTokenSource>(std::move(service_key), clock);
  component->store_ = std::make_unique<StorageUserStore>(
      rpc::MakeChannel(common.addresses.storage, common.max_message_bytes),
      *component->service_tokens_, absl::Milliseconds(common.rpc_deadline_ms));
  component->revocations_ = std::make_unique<SessionRevocations>(clock);
  // Its own channel: audit batches never queue behind the session checks.
  component->audit_writer_ = std::make_unique<audit::StorageAuditWriter>(
      rpc::MakeChannel(common.addresses.storage, common.max_message_bytes),
      [tokens = component->service_tokens_.get()] { return tokens->AuthorizationHeader(); });
  component->audit_ = std::make_unique<AuthAudit>(component->audit_writer_.get());
  component->logic_ =
      std::make_unique<AuthLogic>(*component->store_, *component->signer_, clock,
                                  AuthLogicOptions{.revocations = component->revocations_.get(),
                                                   .audit = component->audit_.get()});
  SPINE_ASSIGN_OR_RETURN(component->pool_,
                         WorkerPool::Create(kPasswordHashThreads, kPasswordHashQueue));
  SPINE_ASSIGN_OR_RETURN(component->gate_pool_,
                         WorkerPool::Create(kSessionCheckThreads, kSessionCheckQueue));
  component->gate_ = std::make_unique<SessionGate>(*component->revocations_, *component->store_,
                                                   *component->gate_pool_, clock);
  component->api_keys_ =
      std::make_unique<ApiKeyGate>(*component->store_, *component->signer_,
                                   *component->revocations_, *component->gate_pool_, clock);
  component->service_ =
      std::make_unique<AuthService>(*component->logic_, *component->pool_, authenticator,
                                    AuthServiceGuards{.limiter = limiter,
                                                      .edge = &edge,
                                                      .gate = component->gate_.get(),
                                                      .revocations = component->revocations_.get(),
                                                      .verifier = &verifier,
                                                      .audit = component->audit_.get(),
                                                      .api_keys = component->api_keys_.get()});
  if (config.admin_password.empty()) {
    log::Warn("SPINE_ADMIN_PASSWORD is not set; no first admin will be created");
  } else {
    component->first_admin_ = FirstAdminBootstrap::Start(*component->logic_, config.admin_username,
                                                         config.admin_password);
  }
  return component;
}

AuthComponent::~AuthComponent() { Shutdown(); }

void AuthComponent::Shutdown() {
  if (first_admin_) first_admin_->Stop();
  if (pool_) pool_->Shutdown();
  if (gate_pool_) gate_pool_->Shutdown();
}

}  // namespace spine::gateway
