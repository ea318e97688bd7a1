#include "services/gateway/metrics/metrics.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/memory/memory.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace spine::gateway {
namespace {

constexpr absl::string_view kPrefix = "spine_gateway_";
constexpr absl::string_view kOtherService = "other";

// Sorted, so the rendered series come out sorted by method without a sort. ("other" sorts last:
// lowercase comes after uppercase in ASCII.)
constexpr std::array<absl::string_view, 8> kMethods = {"DELETE", "GET",  "HEAD", "OPTIONS",
                                                       "PATCH",  "POST", "PUT",  "other"};
constexpr size_t kMethodCount = kMethods.size();
constexpr size_t kBucketCount = GatewayMetrics::kDurationBucketsSeconds.size();

size_t MethodIndex(absl::string_view method) {
  // HTTP methods are case-sensitive (RFC 9110 9.1), so "get" is "other".
  for (size_t i = 0; i + 1 < kMethodCount; ++i) {
    if (kMethods[i] == method) return i;
  }
  return kMethodCount - 1;
}

int ClipCode(int code) { return code >= 100 && code <= 599 ? code : 0; }

// Bucket bounds in nanoseconds, so observations are compared exactly as integers.
std::array<int64_t, kBucketCount> BucketBoundsNanos() {
  std::array<int64_t, kBucketCount> bounds{};
  for (size_t i = 0; i < kBucketCount; ++i) {
    bounds[i] = std::llround(GatewayMetrics::kDurationBucketsSeconds[i] * 1e9);
  }
  return bounds;
}

// Label values escape backslash, double quote and line feed (exposition format 0.0.4).
std::string EscapeLabelValue(absl::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// Exact decimal seconds from integer nanoseconds ("0.0015", "12", "3.000000001"), so sums don't
// lose digits to a float format.
std::string FormatNanosAsSeconds(uint64_t nanos) {
  constexpr uint64_t kNanosPerSecond = 1'000'000'000;
  std::string out = absl::StrCat(nanos / kNanosPerSecond);
  const uint64_t fraction = nanos % kNanosPerSecond;
  if (fraction == 0) return out;
  std::string digits = absl::StrCat(absl::Dec(fraction, absl::kZeroPad9));
  digits.erase(digits.find_last_not_of('0') + 1);
  absl::StrAppend(&out, ".", digits);
  return out;
}

void AppendHeader(std::string* out, absl::string_view name, absl::string_view type,
                  absl::string_view help) {
  absl::StrAppend(out, "# HELP ", kPrefix, name, " ", help, "\n# TYPE ", kPrefix, name, " ", type,
                  "\n");
}

// Indices 0..labels.size()-1 ordered by label, for deterministic output.
std::vector<size_t> SortedIndices(const std::vector<std::string>& labels) {
  std::vector<size_t> order(labels.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return labels[a] < labels[b]; });
  return order;
}

}  // namespace

// One (route, method) pair. A mutex rather than atomics so the codes map can grow and a render
// sees the histogram's buckets, count and sum from the same instant; it is held for a few
// increments and only requests with the same route and method contend for it.
struct GatewayMetrics::Cell {
  absl::Mutex mu;
  absl::flat_hash_map<int, uint64_t> requests_by_code ABSL_GUARDED_BY(mu);
  // Non-cumulative: buckets[i] counts observations in (bound[i-1], bound[i]]; the last slot
  // counts those above the largest bound (+Inf only).
  std::array<uint64_t, kBucketCount + 1> buckets ABSL_GUARDED_BY(mu){};
  uint64_t sum_nanos ABSL_GUARDED_BY(mu) = 0;
};

absl::StatusOr<std::unique_ptr<GatewayMetrics>> GatewayMetrics::Create(
    const GatewayMetricsOptions& options) {
  if (options.routes.size() > kMaxRoutes) {
    return absl::InvalidArgumentError(absl::StrCat("metrics routes: ", options.routes.size(),
                                                   " templates, at most ", kMaxRoutes));
  }
  if (options.services.size() > kMaxServices) {
    return absl::InvalidArgumentError(absl::StrCat("metrics services: ", options.services.size(),
                                                   " names, at most ", kMaxServices));
  }
  auto check = [](const std::vector<std::string>& values, absl::string_view what,
                  absl::string_view reserved) -> absl::Status {
    absl::flat_hash_map<absl::string_view, size_t> seen;
    for (size_t i = 0; i < values.size(); ++i) {
      const std::string& value = values[i];
      if (value.empty()) return absl::InvalidArgumentError(absl::StrCat(what, "[", i, "]: empty"));
      if (value == reserved) {
        return absl::InvalidArgumentError(
            absl::StrCat(what, "[", i, "]: \"", value, "\" is reserved for values not listed"));
      }
      if (auto [it, inserted] = seen.emplace(value, i); !inserted) {
        return absl::InvalidArgumentError(
            absl::StrCat(what, "[", i, "]: \"", value, "\" repeats ", what, "[", it->second, "]"));
      }
    }
    return absl::OkStatus();
  };
  if (absl::Status status = check(options.routes, "metrics routes", kUnmatchedRoute);
      !status.ok()) {
    return status;
  }
  if (absl::Status status = check(options.services, "metrics services", kOtherService);
      !status.ok()) {
    return status;
  }
  return absl::WrapUnique(new GatewayMetrics(options));
}

GatewayMetrics::GatewayMetrics(const GatewayMetricsOptions& options)
    : route_labels_(options.routes),
      service_labels_(options.services),
      upstream_errors_((options.services.size() + 1) * kGrpcCodes) {
  for (size_t i = 0; i < route_labels_.size(); ++i) route_index_.emplace(route_labels_[i], i);
  for (size_t i = 0; i < service_labels_.size(); ++i) service_index_.emplace(service_labels_[i], i);
  route_labels_.emplace_back(kUnmatchedRoute);
  service_labels_.emplace_back(kOtherService);
  cells_.reserve(route_labels_.size() * kMethodCount);
  for (size_t i = 0; i < route_labels_.size() * kMethodCount; ++i) {
    cells_.push_back(std::make_unique<Cell>());
  }
}

GatewayMetrics::~GatewayMetrics() = default;

size_t GatewayMetrics::RouteIndex(absl::string_view route) const {
  const auto it = route_index_.find(route);
  return it == route_index_.end() ? route_labels_.size() - 1 : it->second;
}

size_t GatewayMetrics::ServiceIndex(absl::string_view service) const {
  const auto it = service_index_.find(service);
  return it == service_index_.end() ? service_labels_.size() - 1 : it->second;
}

void GatewayMetrics::RecordRequest(absl::string_view route, absl::string_view method, int code,
                                   absl::Duration duration) {
  static const std::array<int64_t, kBucketCount> kBounds = BucketBoundsNanos();
  const int64_t nanos = std::max<int64_t>(0, absl::ToInt64Nanoseconds(duration));
  const size_t bucket = std::lower_bound(kBounds.begin(), kBounds.end(), nanos) - kBounds.begin();
  Cell& cell = *cells_[RouteIndex(route) * kMethodCount + MethodIndex(method)];
  absl::MutexLock lock(&cell.mu);
  ++cell.requests_by_code[ClipCode(code)];
  ++cell.buckets[bucket];
  cell.sum_nanos += static_cast<uint64_t>(nanos);
}

void GatewayMetrics::RecordRateLimited() { rate_limited_.fetch_add(1, std::memory_order_relaxed); }

void GatewayMetrics::RecordUpstreamError(absl::string_view service, absl::StatusCode grpc_code) {
  int code = static_cast<int>(grpc_code);
  if (code < 0 || code >= kGrpcCodes) code = static_cast<int>(absl::StatusCode::kUnknown);
  upstream_errors_[ServiceIndex(service) * kGrpcCodes + code].fetch_add(1,
                                                                        std::memory_order_relaxed);
}

void GatewayMetrics::ConnectionOpened() {
  open_connections_.fetch_add(1, std::memory_order_relaxed);
}

void GatewayMetrics::ConnectionClosed() {
  open_connections_.fetch_sub(1, std::memory_order_relaxed);
}

std::string GatewayMetrics::RenderPrometheusText() const {
  struct Snapshot {
    std::vector<std::pair<int, uint64_t>> codes;  // sorted by code
    std::array<uint64_t, kBucketCount + 1> buckets{};
    uint64_t sum_nanos = 0;
  };
  const std::vector<size_t> route_order = SortedIndices(route_labels_);
  std::vector<Snapshot> snapshots(cells_.size());
  for (size_t i = 0; i < cells_.size(); ++i) {
    Cell& cell = *cells_[i];
    Snapshot& snapshot = snapshots[i];
    absl::MutexLock lock(&cell.mu);
    snapshot.codes.assign(cell.requests_by_code.begin(), cell.requests_by_code.end());
    snapshot.buckets = cell.buckets;
    snapshot.sum_nanos = cell.sum_nanos;
  }
  for (Snapshot& snapshot : snapshots) std::sort(snapshot.codes.begin(), snapshot.codes.end());

  std::string out;
  AppendHeader(&out, "http_requests_total", "counter",
               "HTTP requests answered, by route template, method and status code.");
  for (const size_t route : route_order) {
    const std::string route_label = EscapeLabelValue(route_labels_[route]);
    for (size_t method = 0; method < kMethodCount; ++method) {
      for (const auto& [code, count] : snapshots[route * kMethodCount + method].codes) {
        absl::StrAppend(&out, kPrefix, "http_requests_total{route=\"", route_label, "\",method=\"",
                        kMethods[method], "\",code=\"", code, "\"} ", count, "\n");
      }
    }
  }

  AppendHeader(&out, "http_request_duration_seconds", "histogram",
               "Time from a request's first byte to its response, by route template and method.");
  for (const size_t route : route_order) {
    const std::string route_label = EscapeLabelValue(route_labels_[route]);
    for (size_t method = 0; method < kMethodCount; ++method) {
      const Snapshot& snapshot = snapshots[route * kMethodCount + method];
      if (snapshot.codes.empty()) continue;  // never observed
      const std::string labels =
          absl::StrCat("route=\"", route_label, "\",method=\"", kMethods[method], "\"");
      uint64_t cumulative = 0;
      for (size_t b = 0; b < kBucketCount; ++b) {
        cumulative += snapshot.buckets[b];
        absl::StrAppend(&out, kPrefix, "http_request_duration_seconds_bucket{", labels, ",le=\"",
                        kDurationBucketsSeconds[b], "\"} ", cumulative, "\n");
      }
      cumulative += snapshot.buckets[kBucketCount];
      absl::StrAppend(&out, kPrefix, "http_request_duration_seconds_bucket{", labels,
                      ",le=\"+Inf\"} ", cumulative, "\n");
      absl::StrAppend(&out, kPrefix, "http_request_duration_seconds_sum{", labels, "} ",
                      FormatNanosAsSeconds(snapshot.sum_nanos), "\n");
      absl::StrAppend(&out, kPrefix, "http_request_duration_seconds_count{", labels, "} ",
                      cumulative, "\n");
    }
  }

  AppendHeader(&out, "rate_limited_total", "counter",
               "Requests refused with 429 by the per-client rate limiter.");
  absl::StrAppend(&out, kPrefix, "rate_limited_total ",
                  rate_limited_.load(std::memory_order_relaxed), "\n");

  AppendHeader(&out, "upstream_errors_total", "counter",
               "Calls to upstream services that ended with a gRPC error, by service and code.");
  for (const size_t service : SortedIndices(service_labels_)) {
    const std::string service_label = EscapeLabelValue(service_labels_[service]);
    // By code name, so the order matches what a reader sorting the output would expect.
    std::vector<std::pair<std::string, uint64_t>> rows;
    for (int code = 0; code < kGrpcCodes; ++code) {
      const uint64_t count =
          upstream_errors_[service * kGrpcCodes + code].load(std::memory_order_relaxed);
      if (count == 0) continue;
      rows.emplace_back(absl::StatusCodeToString(static_cast<absl::StatusCode>(code)), count);
    }
    std::sort(rows.begin(), rows.end());
    for (const auto& [name, count] : rows) {
      absl::StrAppend(&out, kPrefix, "upstream_errors_total{service=\"", service_label,
                      "\",grpc_code=\"", name, "\"} ", count, "\n");
    }
  }

  AppendHeader(&out, "open_connections", "gauge", "HTTP connections open now.");
  absl::StrAppend(&out, kPrefix, "open_connections ",
                  open_connections_.load(std::memory_order_relaxed), "\n");
  return out;
}

}  // namespace spine::gateway
