#include "services/gateway/gateway.h"

#include <algorithm>
#include <iterator>
#include <map>

#include "libs/auth/ed25519_keys.h"
#include "libs/core/log.h"
#include "libs/core/status.h"
#include "libs/rpc/channel.h"
#include "libs/rpc/method_access.h"
#include "libs/rpc/service_main.h"
#include "services/gateway/openapi/openapi_document.h"
#include "services/gateway/openapi/source_docs.h"
#include "services/gateway/rate_limit/client_address.h"

namespace spine::gateway {
namespace {

// Refuses a bad signing key at start, not at the first login, and a key whose public half the
// services do not trust: it would start fine and then have every token it mints rejected.
absl::Status CheckSigningKey(const GatewayConfig& config) {
  if (config.jwt_private_key_file.empty()) return absl::OkStatus();
  SPINE_ASSIGN_OR_RETURN(Ed25519PrivateKey key,
                         Ed25519PrivateKey::FromPemFile(config.jwt_private_key_file));
  auto public_keys = Ed25519PublicKey::AllFromPemFile(config.common.jwt_public_key_file);
  const bool listed = public_keys.ok() && std::any_of(public_keys->begin(), public_keys->end(),
                                                      [&](const Ed25519PublicKey& k) {
                                                        return k.KeyId() == key.KeyId();
                                                      });
  if (!listed) {
    return absl::FailedPreconditionError(
        "SPINE_JWT_PUBLIC_KEY_FILE does not list the public half of SPINE_JWT_PRIVATE_KEY_FILE");
  }
  return absl::OkStatus();
}

// One new channel per upstream service. Each user (transcoder, /status, /readyz) gets its own,
// so health and status probes never queue behind API traffic.
std::map<std::string, std::shared_ptr<grpc::Channel>> Channels(const CommonConfig& common) {
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels;
  for (const auto& [service, address] : UpstreamAddresses(common.addresses)) {
    channels.emplace(service, rpc::MakeChannel(address, common.max_message_bytes));
  }
  return channels;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> UpstreamAddresses(
    const ServiceAddresses& addresses) {
  return {{"gateway", addresses.gateway_grpc},
          {"storage", addresses.storage},
          {"llm", addresses.llm},
          {"plugins", addresses.plugins},
          {"tasks", addresses.tasks}};
}

absl::StatusOr<std::unique_ptr<Gateway>> Gateway::Create(const GatewayConfig& config,
                                                         const Clock& clock) {
  // Private constructor: make_unique cannot reach it.
  std::unique_ptr<Gateway> gateway(new Gateway(config, clock));
  SPINE_RETURN_IF_ERROR(gateway->Build());
  return gateway;
}

absl::Status Gateway::Build() {
  const CommonConfig& common = config_.common;
  SPINE_RETURN_IF_ERROR(CheckSigningKey(config_));
  SPINE_ASSIGN_OR_RETURN(verifier_, rpc::LoadJwtVerifier(common, clock_));
  authenticator_ = std::make_unique<rpc::Authenticator>(verifier_.get());
  // One limiter for HTTP and the gRPC AuthService: a client has one budget, however it calls.
  SPINE_ASSIGN_OR_RETURN(limiter_,
                         RateLimiter::Create({.requests_per_minute = config_.rate_limit_per_minute,
                                              .max_clients = config_.rate_limit_max_clients},
                                             clock_));
  // AuthService needs the signing key; without one (dev mode only) it is not served.
  if (config_.jwt_private_key_file.empty()) {
    log::Warn("no SPINE_JWT_PRIVATE_KEY_FILE: AuthService is not served");
  } else if (verifier_ == nullptr) {
    return absl::FailedPreconditionError("AuthService needs SPINE_JWT_PUBLIC_KEY_FILE");
  } else {
    SPINE_ASSIGN_OR_RETURN(auth_, AuthComponent::Create(config_, clock_, *authenticator_,
                                                        *verifier_, edge_, limiter_.get()));
  }

  // The API: routes from the protos' HTTP options, forwarded over one channel per service.
  SPINE_ASSIGN_OR_RETURN(RouteTable routes, RouteTable::Build(rpc::SpineApiFiles()));
  routes_ = std::make_unique<RouteTable>(std::move(routes));
  SPINE_ASSIGN_OR_RETURN(
      openapi_json_,
      BuildOpenApiDocument(*routes_, {.version = kSpineVersion, .docs = SpineSourceDocs()}));
  const absl::Duration upstream_deadline = absl::Milliseconds(common.rpc_deadline_ms);
  upstream_ = std::make_unique<UpstreamClient>(Channels(common), upstream_deadline, edge_.key());
  std::vector<std::string> route_labels(std::begin(kOperationsPaths), std::end(kOperationsPaths));
  for (const Route& route : routes_->routes()) {
    if (std::find(route_labels.begin(), route_labels.end(), route.public_path) ==
        route_labels.end()) {
      route_labels.push_back(route.public_path);
    }
  }
  std::vector<std::string> services;
  for (const auto& [service, address] : UpstreamAddresses(common.addresses)) {
    services.push_back(service);
  }
  SPINE_ASSIGN_OR_RETURN(metrics_,
                         GatewayMetrics::Create({.routes = route_labels, .services = services}));
  api_ = std::make_unique<TranscodingHandler>(*routes_, *upstream_, upstream_deadline,
                                              metrics_.get(), common.max_message_bytes);

  // Operations: /status from every service's status probe; /readyz from their health checks,
  // spine-tasks' executors and the first admin (readiness.h).
  prober_ = std::make_unique<GrpcServiceProber>(Channels(common));
  status_ = std::make_unique<StatusAggregator>(*prober_, clock_);
  std::map<std::string, rpc::HealthClient> health;
  for (auto& [service, channel] : Channels(common)) {
    health.emplace(service, rpc::HealthClient(std::move(channel)));
  }
  ReadinessExtras extras{.tasks_prober = prober_.get(), .llm_prober = prober_.get()};
  if (auth_ != nullptr) {
    extras.first_admin_ready = [auth = auth_.get()] { return auth->FirstAdminReady(); };
  }
  readiness_ = std::make_unique<ReadinessChecker>(std::move(health), std::move(extras));
  handler_ = std::make_unique<GatewayHttpHandler>(
      *readiness_, absl::Milliseconds(config_.readiness_timeout_ms),
      ApiEndpoints{.api = api_.get(),
                   .limiter = limiter_.get(),
                   .trusted_proxies = &config_.trusted_proxies,
                   .cors = &config_.cors,
                   .metrics = metrics_.get(),
                   .status = status_.get(),
                   .openapi_json = &openapi_json_,
                   .verifier = verifier_.get(),
                   .sessions = auth_ ? auth_->session_gate() : nullptr,
                   .api_keys = auth_ ? auth_->api_key_gate() : nullptr});
  return absl::OkStatus();
}

Gateway::~Gateway() { Shutdown(); }

absl::Status Gateway::Serve() {
  const CommonConfig& common = config_.common;
  std::vector<grpc::Service*> services;
  if (auth_ != nullptr) services.push_back(auth_->service());
  SPINE_ASSIGN_OR_RETURN(
      grpc_server_,
      rpc::RpcServer::Start({.service_name = "gateway",
                             .address = common.addresses.gateway_grpc,
                             .max_message_bytes = common.max_message_bytes,
                             .shutdown_grace = absl::Milliseconds(common.shutdown_grace_ms)},
                            *authenticator_, services, clock_, nullptr));
  GatewayMetrics* metrics = metrics_.get();
  const GatewayConfig& config = config_;
  SPINE_ASSIGN_OR_RETURN(
      http_server_,
      HttpServer::Start({.address = common.addresses.gateway_http,
                         .threads = static_cast<int>(config_.http_threads),
                         .max_connections = config_.http_max_connections,
                         .max_connections_per_ip = config_.http_max_connections_per_ip,
                         // Keyed like the rate limit (IPv6 by /64); a trusted proxy carries many
                         // clients' connections, so only the overall limit applies to it.
                         .per_ip_key = [&config](const std::string& peer) -> std::string {
                           absl::StatusOr<IpAddress> ip = IpAddress::Parse(peer);
                           if (!ip.ok()) return "unknown";
                           if (config.trusted_proxies.Contains(*ip)) return "";
                           return ClientKey::For(*ip).ToString();
                         },
                         .max_body_bytes = config_.http_max_body_bytes,
                         .max_header_bytes = config_.http_max_header_bytes,
                         .read_timeout = absl::Milliseconds(config_.http_read_timeout_ms),
                         .on_connection_open = [metrics] { metrics->ConnectionOpened(); },
                         .on_connection_close = [metrics] { metrics->ConnectionClosed(); }},
                        *handler_));
  return absl::OkStatus();
}

void Gateway::Shutdown() {
  if (http_server_) http_server_->Stop(absl::Milliseconds(config_.common.shutdown_grace_ms));
  if (grpc_server_) grpc_server_->Shutdown();
  if (auth_) auth_->Shutdown();  // after the server: pool threads finish the calls in flight
}

}  // namespace spine::gateway
