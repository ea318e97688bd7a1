// GatewayHttpHandler: routes HTTP requests to the gateway's own endpoints.
//
// The operations endpoints (/healthz, /readyz) are answered here and never rate limited; every
// other request passes the per-client rate limit and goes to the API handler (the transcoder).
// Thread-safe.
#pragma once

#include "absl/time/time.h"
#include "services/gateway/http/http_message.h"
#include "services/gateway/rate_limit/client_address.h"
#include "services/gateway/rate_limit/rate_limiter.h"
#include "services/gateway/readiness.h"

namespace spine::gateway {

// Who the API routes go to and how they are rate limited; all optional, all borrowed.
struct ApiEndpoints {
  HttpHandler* api = nullptr;                       // the transcoder; null: every API path is 404
  RateLimiter* limiter = nullptr;                   // null: no rate limit
  const TrustedProxies* trusted_proxies = nullptr;  // null: trust nobody's X-Forwarded-For
};

class GatewayHttpHandler final : public HttpHandler {
 public:
  GatewayHttpHandler(const ReadinessChecker& readiness, absl::Duration readiness_timeout,
                     ApiEndpoints api = {})
      : readiness_(readiness), readiness_timeout_(readiness_timeout), api_(api) {}

  void Handle(HttpRequest request, HttpReply reply) override;

 private:
  void Readyz(HttpReply reply) const;
  // Admits the request under its client's bucket, or answers 429 itself and returns false.
  // Admitted requests get the RateLimit headers on their reply.
  bool Admit(const HttpRequest& request, HttpReply& reply) const;

  const ReadinessChecker& readiness_;
  const absl::Duration readiness_timeout_;
  const ApiEndpoints api_;
};

}  // namespace spine::gateway
