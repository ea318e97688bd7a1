// spine-gateway: reads its config, builds the HTTP edge and its gRPC server, serves until
// SIGTERM/SIGINT.
#include <algorithm>
#include <cstdio>
#include <string_view>

#include "libs/auth/ed25519_keys.h"
#include "libs/rpc/channel.h"
#include "libs/rpc/method_access.h"
#include "libs/rpc/service_main.h"
#include "libs/rpc/signals.h"
#include "services/gateway/auth/auth_component.h"
#include "services/gateway/auth/edge_identity.h"
#include "services/gateway/gateway_config.h"
#include "services/gateway/gateway_http_handler.h"
#include "services/gateway/http/http_server.h"
#include "services/gateway/metrics/metrics.h"
#include "services/gateway/openapi/openapi_document.h"
#include "services/gateway/ops/grpc_service_prober.h"
#include "services/gateway/ops/status_aggregator.h"
#include "services/gateway/readiness.h"
#include "services/gateway/service_token.h"
#include "services/gateway/transcode/route_table.h"
#include "services/gateway/transcode/transcoding_handler.h"
#include "services/gateway/transcode/upstream_client.h"

namespace {

int Run(const spine::gateway::GatewayConfig& config) {
  using spine::log::Error;
  spine::Clock& clock = spine::RealClock::Instance();
  const spine::CommonConfig& common = config.common;

  if (!config.jwt_private_key_file.empty()) {
    // Refuse a bad signing key at start, not at the first login.
    auto key = spine::Ed25519PrivateKey::FromPemFile(config.jwt_private_key_file);
    if (!key.ok()) {
      Error("refusing to start", {{"error", std::string(key.status().message())}});
      return 2;
    }
    // A mismatched pair would start fine and then have every token it mints rejected.
    auto public_keys = spine::Ed25519PublicKey::AllFromPemFile(common.jwt_public_key_file);
    const bool listed = public_keys.ok() && std::any_of(public_keys->begin(), public_keys->end(),
                                                        [&](const spine::Ed25519PublicKey& k) {
                                                          return k.KeyId() == key->KeyId();
                                                        });
    if (!listed) {
      Error("refusing to start", {{"error",
                                   "SPINE_JWT_PUBLIC_KEY_FILE does not list the public half of "
                                   "SPINE_JWT_PRIVATE_KEY_FILE"}});
      return 2;
    }
  }
  auto verifier = spine::rpc::LoadJwtVerifier(common, clock);
  if (!verifier.ok()) {
    Error("refusing to start", {{"error", std::string(verifier.status().message())}});
    return 2;
  }
  spine::rpc::Authenticator authenticator(verifier->get());
  // One limiter for HTTP and the gRPC AuthService: a client has one budget, however it calls.
  auto limiter =
      spine::gateway::RateLimiter::Create({.requests_per_minute = config.rate_limit_per_minute,
                                           .max_clients = config.rate_limit_max_clients},
                                          clock);
  if (!limiter.ok()) {
    Error("refusing to start", {{"error", std::string(limiter.status().message())}});
    return 2;
  }
  // Lets the HTTP edge tell AuthService which client a transcoded call is for.
  const spine::gateway::EdgeIdentity edge = spine::gateway::EdgeIdentity::Generate();

  // AuthService needs the signing key; without one (dev mode only) it is not served.
  std::unique_ptr<spine::gateway::AuthComponent> auth;
  std::vector<grpc::Service*> services;
  if (config.jwt_private_key_file.empty()) {
    spine::log::Warn("no SPINE_JWT_PRIVATE_KEY_FILE: AuthService is not served");
  } else if (*verifier == nullptr) {
    Error("refusing to start", {{"error", "AuthService needs SPINE_JWT_PUBLIC_KEY_FILE"}});
    return 2;
  } else {
    auto component = spine::gateway::AuthComponent::Create(config, clock, authenticator, **verifier,
                                                           edge, limiter->get());
    if (!component.ok()) {
      Error("refusing to start", {{"error", std::string(component.status().message())}});
      return 2;
    }
    auth = std::move(*component);
    services.push_back(auth->service());
  }

  auto grpc_server =
      spine::rpc::RpcServer::Start({.service_name = "gateway",
                                    .address = common.addresses.gateway_grpc,
                                    .max_message_bytes = common.max_message_bytes,
                                    .shutdown_grace = absl::Milliseconds(common.shutdown_grace_ms)},
                                   authenticator, services, clock, nullptr);
  if (!grpc_server.ok()) {
    Error("cannot start", {{"error", std::string(grpc_server.status().message())}});
    return 1;
  }

  auto health = [&](const std::string& address) {
    return spine::rpc::HealthClient(spine::rpc::MakeChannel(address, common.max_message_bytes));
  };
  // The API: routes from the protos' HTTP options, forwarded over one channel per service.
  auto routes = spine::gateway::RouteTable::Build(spine::rpc::SpineApiFiles());
  if (!routes.ok()) {
    Error("refusing to start", {{"error", std::string(routes.status().message())}});
    return 2;
  }
  auto openapi = spine::gateway::BuildOpenApiDocument(*routes, {.version = spine::kSpineVersion});
  if (!openapi.ok()) {
    Error("refusing to start", {{"error", std::string(openapi.status().message())}});
    return 2;
  }
  auto channel = [&](const std::string& address) {
    return spine::rpc::MakeChannel(address, common.max_message_bytes);
  };
  const absl::Duration upstream_deadline = absl::Milliseconds(common.rpc_deadline_ms);
  spine::gateway::UpstreamClient upstream({{"gateway", channel(common.addresses.gateway_grpc)},
                                           {"storage", channel(common.addresses.storage)},
                                           {"llm", channel(common.addresses.llm)},
                                           {"plugins", channel(common.addresses.plugins)},
                                           {"tasks", channel(common.addresses.tasks)}},
                                          upstream_deadline, edge.key());
  std::vector<std::string> route_labels(std::begin(spine::gateway::kOperationsPaths),
                                        std::end(spine::gateway::kOperationsPaths));
  for (const spine::gateway::Route& route : routes->routes()) {
    if (std::find(route_labels.begin(), route_labels.end(), route.path.text()) ==
        route_labels.end()) {
      route_labels.push_back(route.path.text());
    }
  }
  auto metrics = spine::gateway::GatewayMetrics::Create(
      {.routes = route_labels, .services = {"gateway", "storage", "llm", "plugins", "tasks"}});
  if (!metrics.ok()) {
    Error("refusing to start", {{"error", std::string(metrics.status().message())}});
    return 2;
  }
  spine::gateway::TranscodingHandler api(*routes, upstream, upstream_deadline, metrics->get(),
                                         common.max_message_bytes);
  spine::gateway::GrpcServiceProber prober({{"gateway", channel(common.addresses.gateway_grpc)},
                                            {"storage", channel(common.addresses.storage)},
                                            {"llm", channel(common.addresses.llm)},
                                            {"plugins", channel(common.addresses.plugins)},
                                            {"tasks", channel(common.addresses.tasks)}});
  spine::gateway::StatusAggregator status(prober, clock);
  // Ready means usable: also the first admin exists and spine-tasks knows the executors.
  spine::gateway::ReadinessExtras readiness_extras{.tasks_prober = &prober};
  if (auth) readiness_extras.first_admin_ready = [&auth] { return auth->FirstAdminReady(); };
  spine::gateway::ReadinessChecker readiness({{"gateway", health(common.addresses.gateway_grpc)},
                                              {"storage", health(common.addresses.storage)},
                                              {"llm", health(common.addresses.llm)},
                                              {"plugins", health(common.addresses.plugins)},
                                              {"tasks", health(common.addresses.tasks)}},
                                             std::move(readiness_extras));
  spine::gateway::GatewayHttpHandler handler(readiness,
                                             absl::Milliseconds(config.readiness_timeout_ms),
                                             {.api = &api,
                                              .limiter = limiter->get(),
                                              .trusted_proxies = &config.trusted_proxies,
                                              .metrics = metrics->get(),
                                              .status = &status,
                                              .openapi_json = &*openapi,
                                              .verifier = verifier->get(),
                                              .sessions = auth ? auth->session_gate() : nullptr});
  auto http_server = spine::gateway::HttpServer::Start(
      {.address = common.addresses.gateway_http,
       .threads = static_cast<int>(config.http_threads),
       .max_connections = config.http_max_connections,
       .max_connections_per_ip = config.http_max_connections_per_ip,
       // Keyed like the rate limit (IPv6 by /64); a trusted proxy carries many clients'
       // connections, so only the overall limit applies to it.
       .per_ip_key = [&config](const std::string& peer) -> std::string {
         absl::StatusOr<spine::gateway::IpAddress> ip = spine::gateway::IpAddress::Parse(peer);
         if (!ip.ok()) return "unknown";
         if (config.trusted_proxies.Contains(*ip)) return "";
         return spine::gateway::ClientKey::For(*ip).ToString();
       },
       .max_body_bytes = config.http_max_body_bytes,
       .max_header_bytes = config.http_max_header_bytes,
       .read_timeout = absl::Milliseconds(config.http_read_timeout_ms),
       .on_connection_open = [&metrics] { (*metrics)->ConnectionOpened(); },
       .on_connection_close = [&metrics] { (*metrics)->ConnectionClosed(); }},
      handler);
  if (!http_server.ok()) {
    Error("cannot start", {{"error", std::string(http_server.status().message())}});
    return 1;
  }

  const int signal_number = spine::rpc::WaitForTerminationSignal();
  spine::log::Info("shutting down", {{"signal", std::to_string(signal_number)}});
  (*http_server)->Stop(absl::Milliseconds(common.shutdown_grace_ms));
  (*grpc_server)->Shutdown();
  if (auth) auth->Shutdown();  // after the server: pool threads finish the calls in flight
  spine::log::Info("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::string_view(argv[1]) == "mint-service-token") {
    return spine::gateway::RunMintServiceTokenCommand(argc, argv);
  }
  if (argc != 1) {
    std::fputs("usage: spine-gateway [mint-service-token <service> [ttl-hours]]\n", stderr);
    return 2;
  }
  spine::rpc::BlockTerminationSignals();
  std::optional<spine::gateway::GatewayConfig> config =
      spine::rpc::LoadConfig<spine::gateway::GatewayConfig>("gateway",
                                                            spine::gateway::ReadGatewayConfig);
  if (!config) return 2;
  return Run(*config);
}
