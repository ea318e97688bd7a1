// GatewayHttpHandler: routes HTTP requests to the gateway's own endpoints.
//
// The operations endpoints (/healthz, /readyz, /status, /metrics, /openapi.json) and CORS
// preflights (before the rate limit, as browsers send one ahead of many requests) are answered
// here; all but /openapi.json are exempt from the rate limit (API.md). Every other request
// passes the per-client rate limit and goes to the API handler (the transcoder). Every request is
// counted in the metrics under its route template, and its access log line names the route
// template, the client and the verified user. Thread-safe.
#pragma once

#include <optional>
#include <string>

#include "absl/time/time.h"
#include "libs/auth/jwt.h"
#include "services/gateway/auth/api_keys.h"
#include "services/gateway/auth/session_gate.h"
#include "services/gateway/http/cors_policy.h"
#include "services/gateway/http/http_message.h"
#include "services/gateway/metrics/metrics.h"
#include "services/gateway/ops/status_aggregator.h"
#include "services/gateway/rate_limit/client_address.h"
#include "services/gateway/rate_limit/rate_limiter.h"
#include "services/gateway/readiness.h"
#include "services/gateway/transcode/transcoding_handler.h"

namespace spine::gateway {

// Who the API routes go to, how they are limited and measured, and what the operations
// endpoints answer from; all optional, all borrowed.
struct ApiEndpoints {
  TranscodingHandler* api = nullptr;                // null: every API path is 404
  RateLimiter* limiter = nullptr;                   // null: no rate limit
  const TrustedProxies* trusted_proxies = nullptr;  // null: trust nobody's X-Forwarded-For
  const CorsPolicy* cors = nullptr;                 // null: no CORS headers, no preflights
  GatewayMetrics* metrics = nullptr;                // null: /metrics is 404, nothing recorded
  StatusAggregator* status = nullptr;               // null: /status is 404
  const std::string* openapi_json = nullptr;        // null: /openapi.json is 404
  // Names the caller in the access log and reads the claims the session gate checks (the
  // services verify and authorize themselves).
  const JwtVerifier* verifier = nullptr;
  // An API request whose bearer token verifies is forwarded only if the token still stands
  // (not revoked, its user exists): else 401 here. Null: not checked (no AuthService).
  const SessionGate* sessions = nullptr;
  // A request whose bearer credential is an API key ("spk_...") is admitted by its scope and
  // forwarded with an access token for the key's user in its place. Null: API keys are refused
  // as any malformed token is.
  const ApiKeyGate* api_keys = nullptr;
};

// Route labels of the operations endpoints, for the metrics registry.
inline constexpr const char* kOperationsPaths[] = {"/healthz", "/readyz", "/status", "/metrics",
                                                   "/openapi.json"};

class GatewayHttpHandler final : public HttpHandler {
 public:
  GatewayHttpHandler(const ReadinessChecker& readiness, absl::Duration readiness_timeout,
                     ApiEndpoints api = {})
      : readiness_(readiness), readiness_timeout_(readiness_timeout), api_(api) {}

  void Handle(HttpRequest request, HttpReply reply) override;

 private:
  // Answers the operations endpoints; false when `request` is not one of them.
  bool HandleOperations(const HttpRequest& request, HttpReply& reply) const;
  void Readyz(HttpReply reply) const;
  // Admits the request under its client's bucket, or answers 429 itself and returns false.
  // Admitted requests get the RateLimit headers on their reply.
  bool Admit(const HttpRequest& request, HttpReply& reply) const;
  // The client the rate limit and the access log count the request under.
  IpAddress ClientOf(const HttpRequest& request) const;
  // The verified claims of the request's bearer token, if it has one that verifies.
  std::optional<AccessClaims> ClaimsOf(const HttpRequest& request) const;
  // Replaces the request's API key by an access token for its user (or answers the refusal),
  // then forwards it.
  void ForwardWithApiKey(HttpRequest request, const std::string& key, HttpReply reply) const;
  // Forwards `request` to the API once its token, if any, is known to still stand.
  void Forward(HttpRequest request, std::optional<AccessClaims> claims, HttpReply reply) const;

  const ReadinessChecker& readiness_;
  const absl::Duration readiness_timeout_;
  const ApiEndpoints api_;
};

}  // namespace spine::gateway
