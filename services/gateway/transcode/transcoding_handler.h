// TranscodingHandler: serves every API route of the RouteTable — matches the path, builds the
// RPC request from path, query and JSON body, forwards it upstream, and turns the answer into
// the HTTP response (success code, Location for creates, 204 without a body) or into the one
// error shape with API.md's status table. Never blocks: the reply is sent from the upstream's
// completion. Thread-safe.
#pragma once

#include <cstdint>

#include "absl/time/time.h"
#include "services/gateway/http/http_message.h"
#include "services/gateway/metrics/metrics.h"
#include "services/gateway/transcode/route_table.h"
#include "services/gateway/transcode/upstream_client.h"

namespace spine::gateway {

// Whether `route` is a download: a server-streaming RPC answering spine.api.HttpBody, served as
// the raw bytes of its messages rather than as server-sent events.
bool IsDownload(const Route& route);

class TranscodingHandler final : public HttpHandler {
 public:
  // `routes`, `upstream` and `metrics` (optional: upstream errors are counted there) must
  // outlive the handler. `max_message_bytes` is the gRPC message limit of the upstream channels
  // (SPINE_GRPC_MAX_MESSAGE_BYTES): a request message over it is 413 here, not gRPC's 429.
  TranscodingHandler(const RouteTable& routes, const Upstream& upstream,
                     absl::Duration upstream_deadline, GatewayMetrics* metrics = nullptr,
                     int64_t max_message_bytes = int64_t{4} << 20)
      : routes_(routes),
        upstream_(upstream),
        upstream_deadline_(upstream_deadline),
        metrics_(metrics),
        max_message_bytes_(max_message_bytes) {}

  void Handle(HttpRequest request, HttpReply reply) override;

  // The route template a request path matches ("/api/thoughts/{id}"), or "" — a bounded label
  // for metrics and access logs.
  std::string RouteLabel(const HttpRequest& request) const;

 private:
  // How long to wait for `route` with `request`: the request's own limit (the route's
  // deadline_field) plus a margin, else the route's deadline, else the default.
  absl::Duration UpstreamDeadline(const Route& route,
                                  const google::protobuf::Message& request) const;

  const RouteTable& routes_;
  const Upstream& upstream_;
  const absl::Duration upstream_deadline_;
  GatewayMetrics* const metrics_;
  const int64_t max_message_bytes_;
};

}  // namespace spine::gateway
