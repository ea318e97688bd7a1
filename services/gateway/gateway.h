// Gateway: builds and owns everything spine-gateway runs, in the order each part needs the
// others — the JWT keys' checks, the rate limiter, the AuthComponent, the routes and OpenAPI
// document, the upstream channels, metrics, /status and /readyz, the HTTP handler — and then
// serves them on its gRPC and HTTP addresses, so main.cc only loads the config, creates, serves
// and shuts down.
//
// The services behind the gateway are listed once (UpstreamAddresses); the transcoder's channels,
// the metrics labels, /status and /readyz all take their names and addresses from there.
//
// Thread-safety: Create, Serve and Shutdown from main's thread; the parts serve from their own.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libs/auth/jwt.h"
#include "libs/core/clock.h"
#include "libs/rpc/caller.h"
#include "libs/rpc/rpc_server.h"
#include "services/gateway/auth/auth_component.h"
#include "services/gateway/auth/edge_identity.h"
#include "services/gateway/gateway_config.h"
#include "services/gateway/gateway_http_handler.h"
#include "services/gateway/http/http_server.h"
#include "services/gateway/metrics/metrics.h"
#include "services/gateway/ops/grpc_service_prober.h"
#include "services/gateway/ops/status_aggregator.h"
#include "services/gateway/rate_limit/rate_limiter.h"
#include "services/gateway/readiness.h"
#include "services/gateway/transcode/route_table.h"
#include "services/gateway/transcode/transcoding_handler.h"
#include "services/gateway/transcode/upstream_client.h"

namespace spine::gateway {

// The services the gateway fronts, each with its gRPC address from `addresses`, as routes,
// metrics, /status and /readyz name them ("gateway" is its own gRPC server, for AuthService).
// The one place they are listed.
std::vector<std::pair<std::string, std::string>> UpstreamAddresses(
    const ServiceAddresses& addresses);

class Gateway {
 public:
  // Builds every part; nothing listens yet. An error means the configuration cannot work (a bad
  // or mismatched signing key, bad limits, unreadable protos): main refuses to start. `config`
  // and `clock` must outlive the gateway.
  static absl::StatusOr<std::unique_ptr<Gateway>> Create(const GatewayConfig& config,
                                                         const Clock& clock);
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;
  // Shutdown().
  ~Gateway();

  // Starts the gRPC server, then the HTTP edge. UNAVAILABLE (or INVALID_ARGUMENT for an address
  // that does not parse) when one cannot listen.
  absl::Status Serve();

  // Stops the HTTP edge (requests in flight get the shutdown grace), then the gRPC server, then
  // the auth component (whose pool finishes the calls in flight). Idempotent.
  void Shutdown();

 private:
  Gateway(const GatewayConfig& config, const Clock& clock) : config_(config), clock_(clock) {}
  // Create's work after the constructor, so every part can borrow the ones built before it.
  absl::Status Build();

  const GatewayConfig& config_;
  const Clock& clock_;
  // Members in dependency order: each borrows only from those above it, and is destroyed first.
  std::unique_ptr<JwtVerifier> verifier_;  // null in dev mode without a public key
  std::unique_ptr<rpc::Authenticator> authenticator_;
  std::unique_ptr<RateLimiter> limiter_;
  // Lets the HTTP edge tell AuthService which client a transcoded call is for.
  EdgeIdentity edge_ = EdgeIdentity::Generate();
  std::unique_ptr<AuthComponent> auth_;  // null without a signing key (dev mode only)
  std::unique_ptr<RouteTable> routes_;
  std::string openapi_json_;
  std::unique_ptr<UpstreamClient> upstream_;
  std::unique_ptr<GatewayMetrics> metrics_;
  std::unique_ptr<TranscodingHandler> api_;
  std::unique_ptr<GrpcServiceProber> prober_;
  std::unique_ptr<StatusAggregator> status_;
  std::unique_ptr<ReadinessChecker> readiness_;
  std::unique_ptr<GatewayHttpHandler> handler_;
  std::unique_ptr<rpc::RpcServer> grpc_server_;
  std::unique_ptr<HttpServer> http_server_;
};

}  // namespace spine::gateway
