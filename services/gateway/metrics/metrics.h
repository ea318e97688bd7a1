// GatewayMetrics: the gateway's Prometheus series for GET /metrics (API.md "Operations").
//
// Series, all prefixed `spine_gateway_`:
//   http_requests_total{route,method,code}                 counter
//   http_request_duration_seconds{route,method}            histogram, 0.5 ms .. 10 s
//   rate_limited_total                                     counter
//   upstream_errors_total{service,grpc_code}               counter
//   open_connections                                       gauge
//
// Label cardinality is bounded by construction, whatever the traffic:
//   route      one of the templates given to Create (e.g. "/api/thoughts/{id}"), else "unmatched"
//   method     GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, else "other"
//   code       an HTTP status 100..599, else "0" (a gateway bug, kept visible rather than dropped)
//   service    one of the upstream services given to Create, else "other"
//   grpc_code  a gRPC status name ("UNAVAILABLE"); values outside 0..16 count as "UNKNOWN"
// Every (route, method) pair has its cell allocated at construction; the codes seen per cell
// are at most 501. Nothing is ever allocated for a raw path.
//
// Thread-safe: every Record*/Connection* function and RenderPrometheusText() may be called from
// any number of threads at once. The hot path (RecordRequest) is one read-only hash lookup for
// the route and one uncontended lock of that (route, method) cell's mutex; requests on
// different routes or methods never share a lock. Counters are exact.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace spine::gateway {

struct GatewayMetricsOptions {
  // Route templates, the only values the `route` label takes besides "unmatched". Non-empty,
  // distinct, not "unmatched", at most kMaxRoutes.
  std::vector<std::string> routes;
  // Upstream service names for `service` ("storage", "llm", ...). Non-empty, distinct, not
  // "other", at most kMaxServices.
  std::vector<std::string> services;
};

class GatewayMetrics {
 public:
  static constexpr size_t kMaxRoutes = 1000;
  static constexpr size_t kMaxServices = 64;
  // The route label of requests that matched no registered template.
  static constexpr absl::string_view kUnmatchedRoute = "unmatched";

  // Rejects options outside the rules above, naming the offending value.
  static absl::StatusOr<std::unique_ptr<GatewayMetrics>> Create(
      const GatewayMetricsOptions& options);
  ~GatewayMetrics();
  GatewayMetrics(const GatewayMetrics&) = delete;
  GatewayMetrics& operator=(const GatewayMetrics&) = delete;

  // Counts one finished HTTP request and observes its duration. `route` is the matched template
  // (anything not registered counts as "unmatched"), `method` the request method, `code` the
  // response status; out-of-set values are clipped as described at the top.
  void RecordRequest(absl::string_view route, absl::string_view method, int code,
                     absl::Duration duration);
  // Counts one request refused by the rate limiter (its 429 is also counted by RecordRequest).
  void RecordRateLimited();
  // Counts one failed call to an upstream service, by the gRPC status it ended with.
  void RecordUpstreamError(absl::string_view service, absl::StatusCode grpc_code);
  // The open-connections gauge: call once when a connection is accepted and once when it closes.
  void ConnectionOpened();
  void ConnectionClosed();

  // All series in Prometheus text exposition format 0.0.4 (serve as
  // "text/plain; version=0.0.4; charset=utf-8"). Deterministic order: families as listed at the
  // top, series sorted by label values. Series that were never touched are left out, except the
  // rate-limited counter and the connections gauge, which are always present.
  std::string RenderPrometheusText() const;

  // The histogram's upper bounds, in seconds (le labels; +Inf is implied).
  static constexpr std::array<double, 14> kDurationBucketsSeconds = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

 private:
  struct Cell;
  static constexpr int kGrpcCodes = 17;  // OK .. UNAUTHENTICATED

  explicit GatewayMetrics(const GatewayMetricsOptions& options);
  size_t RouteIndex(absl::string_view route) const;
  size_t ServiceIndex(absl::string_view service) const;

  // Route and service labels by index; the last entry is "unmatched" / "other".
  std::vector<std::string> route_labels_;
  std::vector<std::string> service_labels_;
  // Read-only after construction, so lookups need no lock.
  absl::flat_hash_map<std::string, size_t> route_index_;
  absl::flat_hash_map<std::string, size_t> service_index_;
  // route_labels_.size() x kMethods cells, route-major.
  std::vector<std::unique_ptr<Cell>> cells_;
  // service_labels_.size() x kGrpcCodes counters, service-major.
  std::vector<std::atomic<uint64_t>> upstream_errors_;
  std::atomic<uint64_t> rate_limited_{0};
  std::atomic<int64_t> open_connections_{0};
};

}  // namespace spine::gateway
