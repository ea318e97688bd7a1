// GatewayHttpHandler: routes HTTP requests to the gateway's own endpoints.
//
// Today: GET /healthz, GET /readyz; every other path is 404 in the error shape (the REST→gRPC
// transcoder of the gateway issue plugs in here). Thread-safe.
#pragma once

#include "absl/time/time.h"
#include "services/gateway/http/http_message.h"
#include "services/gateway/readiness.h"

namespace spine::gateway {

class GatewayHttpHandler final : public HttpHandler {
 public:
  GatewayHttpHandler(const ReadinessChecker& readiness, absl::Duration readiness_timeout)
      : readiness_(readiness), readiness_timeout_(readiness_timeout) {}

  void Handle(HttpRequest request, HttpReply reply) override;

 private:
  void Readyz(HttpReply reply) const;

  const ReadinessChecker& readiness_;
  const absl::Duration readiness_timeout_;
};

}  // namespace spine::gateway
