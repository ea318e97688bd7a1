#include "services/gateway/metrics/metrics.h"

#include <catch2/catch.hpp>
#include <cctype>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"

namespace spine::gateway {
namespace {

// One sample line of the text format, labels decoded.
struct Sample {
  std::string name{};
  std::map<std::string, std::string> labels{};
  double value = 0;
};

bool IsMetricName(absl::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  for (const char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != ':') return false;
  }
  return true;
}

// Parses `{a="x",b="y\"z"}` at the start of `rest`; advances `rest` past it.
std::optional<std::map<std::string, std::string>> ParseLabels(absl::string_view& rest) {
  std::map<std::string, std::string> labels;
  if (rest.empty() || rest[0] != '{') return labels;
  rest.remove_prefix(1);
  while (true) {
    if (!rest.empty() && rest[0] == '}') break;
    const size_t eq = rest.find('=');
    if (eq == absl::string_view::npos) return std::nullopt;
    const std::string name(rest.substr(0, eq));
    if (!IsMetricName(name) || name.find(':') != std::string::npos) return std::nullopt;
    rest.remove_prefix(eq + 1);
    if (rest.empty() || rest[0] != '"') return std::nullopt;
    rest.remove_prefix(1);
    std::string value;
    while (true) {
      if (rest.empty()) return std::nullopt;
      const char c = rest[0];
      rest.remove_prefix(1);
      if (c == '"') break;
      if (c == '\n') return std::nullopt;
      if (c != '\\') {
        value += c;
        continue;
      }
      if (rest.empty()) return std::nullopt;
      const char escaped = rest[0];
      rest.remove_prefix(1);
      if (escaped == '\\') {
        value += '\\';
      } else if (escaped == '"') {
        value += '"';
      } else if (escaped == 'n') {
        value += '\n';
      } else {
        return std::nullopt;  // the only escapes the format has
      }
    }
    if (!labels.emplace(name, value).second) return std::nullopt;  // repeated label
    if (!rest.empty() && rest[0] == ',') {
      rest.remove_prefix(1);
    } else if (rest.empty() || rest[0] != '}') {
      return std::nullopt;
    }
  }
  rest.remove_prefix(1);
  return labels;
}

// A small validator of text exposition format 0.0.4: every line is `# HELP name text`,
// `# TYPE name type` (once per family, before its samples) or `name{labels} value`; sample names
// belong to a declared family (histograms through _bucket/_sum/_count).
std::vector<Sample> ParseExposition(const std::string& text) {
  REQUIRE(!text.empty());
  REQUIRE(text.back() == '\n');
  std::map<std::string, std::string> types;
  std::vector<Sample> samples;
  for (absl::string_view line :
       absl::StrSplit(absl::string_view(text).substr(0, text.size() - 1), '\n')) {
    INFO("line: " << std::string(line));
    REQUIRE(!line.empty());
    if (line[0] == '#') {
      const std::vector<std::string> parts = absl::StrSplit(line, absl::MaxSplits(' ', 3));
      REQUIRE(parts.size() >= 3);
      REQUIRE((parts[1] == "HELP" || parts[1] == "TYPE"));
      REQUIRE(IsMetricName(parts[2]));
      if (parts[1] == "TYPE") {
        REQUIRE(parts.size() == 4);
        REQUIRE((parts[3] == "counter" || parts[3] == "gauge" || parts[3] == "histogram"));
        REQUIRE(types.emplace(parts[2], parts[3]).second);
      }
      continue;
    }
    Sample sample;
    absl::string_view rest = line;
    const size_t name_end = rest.find_first_of("{ ");
    REQUIRE(name_end != absl::string_view::npos);
    sample.name = std::string(rest.substr(0, name_end));
    REQUIRE(IsMetricName(sample.name));
    rest.remove_prefix(name_end);
    std::optional<std::map<std::string, std::string>> labels = ParseLabels(rest);
    REQUIRE(labels.has_value());
    sample.labels = std::move(*labels);
    REQUIRE(!rest.empty());
    REQUIRE(rest[0] == ' ');
    rest.remove_prefix(1);
    REQUIRE(absl::SimpleAtod(rest, &sample.value));

    std::string family = sample.name;
    for (const absl::string_view suffix : {"_bucket", "_sum", "_count"}) {
      if (absl::EndsWith(family, suffix) &&
          types.count(family.substr(0, family.size() - suffix.size())) > 0) {
        family = family.substr(0, family.size() - suffix.size());
        break;
      }
    }
    REQUIRE(types.count(family) == 1);
    if (types[family] == "histogram" && absl::EndsWith(sample.name, "_bucket")) {
      REQUIRE(sample.labels.count("le") == 1);
    }
    samples.push_back(std::move(sample));
  }
  return samples;
}

// The value of the one sample named `name` with exactly `labels`; nullopt when absent.
std::optional<double> Find(const std::vector<Sample>& samples, const std::string& name,
                           const std::map<std::string, std::string>& labels) {
  std::optional<double> found;
  for (const Sample& sample : samples) {
    if (sample.name != name || sample.labels != labels) continue;
    REQUIRE(!found.has_value());
    found = sample.value;
  }
  return found;
}

std::unique_ptr<GatewayMetrics> MakeMetrics(std::vector<std::string> routes = {
                                                "/api/thoughts", "/api/thoughts/{id}"}) {
  GatewayMetricsOptions options;
  options.routes = std::move(routes);
  options.services = {"storage", "llm", "plugins", "tasks"};
  absl::StatusOr<std::unique_ptr<GatewayMetrics>> metrics = GatewayMetrics::Create(options);
  REQUIRE(metrics.ok());
  return std::move(*metrics);
}

constexpr char kRequests[] = "spine_gateway_http_requests_total";
constexpr char kBucket[] = "spine_gateway_http_request_duration_seconds_bucket";

TEST_CASE("requests are counted by route template, method and code") {
  auto metrics = MakeMetrics();
  metrics->RecordRequest("/api/thoughts/{id}", "GET", 200, absl::Milliseconds(2));
  metrics->RecordRequest("/api/thoughts/{id}", "GET", 200, absl::Milliseconds(3));
  metrics->RecordRequest("/api/thoughts/{id}", "GET", 404, absl::Milliseconds(1));
  metrics->RecordRequest("/api/thoughts", "POST", 201, absl::Milliseconds(4));

  const std::vector<Sample> samples = ParseExposition(metrics->RenderPrometheusText());
  CHECK(Find(samples, kRequests,
             {{"route", "/api/thoughts/{id}"}, {"method", "GET"}, {"code", "200"}}) == 2);
  CHECK(Find(samples, kRequests,
             {{"route", "/api/thoughts/{id}"}, {"method", "GET"}, {"code", "404"}}) == 1);
  CHECK(Find(samples, kRequests,
             {{"route", "/api/thoughts"}, {"method", "POST"}, {"code", "201"}}) == 1);
  // Never-seen combinations are not rendered.
  CHECK_FALSE(
      Find(samples, kRequests, {{"route", "/api/thoughts"}, {"method", "GET"}, {"code", "200"}}));
}

TEST_CASE("the duration histogram has cumulative buckets, an exact sum and +Inf equal to count") {
  auto metrics = MakeMetrics();
  const std::string route = "/api/thoughts/{id}";
  metrics->RecordRequest(route, "GET", 200, absl::Microseconds(300));  // <= 0.0005
  metrics->RecordRequest(route, "GET", 200, absl::Microseconds(500));  // == 0.0005, le inclusive
  metrics->RecordRequest(route, "GET", 200, absl::Milliseconds(7));    // <= 0.01
  metrics->RecordRequest(route, "GET", 500, absl::Milliseconds(300));  // <= 0.5
  metrics->RecordRequest(route, "GET", 504, absl::Seconds(30));        // +Inf only

  const std::vector<Sample> samples = ParseExposition(metrics->RenderPrometheusText());
  auto bucket = [&](const std::string& le) {
    return Find(samples, kBucket, {{"route", route}, {"method", "GET"}, {"le", le}});
  };
  CHECK(bucket("0.0005") == 2);
  CHECK(bucket("0.001") == 2);
  CHECK(bucket("0.005") == 2);
  CHECK(bucket("0.01") == 3);
  CHECK(bucket("0.25") == 3);
  CHECK(bucket("0.5") == 4);
  CHECK(bucket("10") == 4);
  CHECK(bucket("+Inf") == 5);

  // Buckets never decrease, in the order they are printed.
  double previous = 0;
  size_t bucket_lines = 0;
  for (const Sample& sample : samples) {
    if (sample.name != kBucket) continue;
    CHECK(sample.value >= previous);
    previous = sample.value;
    ++bucket_lines;
  }
  CHECK(bucket_lines == GatewayMetrics::kDurationBucketsSeconds.size() + 1);

  const std::map<std::string, std::string> labels = {{"route", route}, {"method", "GET"}};
  CHECK(Find(samples, "spine_gateway_http_request_duration_seconds_count", labels) == 5);
  // 0.0003 + 0.0005 + 0.007 + 0.3 + 30, printed exactly from integer nanoseconds.
  const std::string text = metrics->RenderPrometheusText();
  CHECK(text.find("spine_gateway_http_request_duration_seconds_sum{route=\"/api/thoughts/{id}\","
                  "method=\"GET\"} 30.3078\n") != std::string::npos);
}

TEST_CASE("label values are escaped") {
  auto metrics = MakeMetrics({"/odd/\"quoted\"/back\\slash/new\nline"});
  metrics->RecordRequest("/odd/\"quoted\"/back\\slash/new\nline", "GET", 200,
                         absl::Milliseconds(1));
  const std::string text = metrics->RenderPrometheusText();
  CHECK(text.find("route=\"/odd/\\\"quoted\\\"/back\\\\slash/new\\nline\"") != std::string::npos);
  const std::vector<Sample> samples = ParseExposition(text);  // still one sample per line
  CHECK(Find(samples, kRequests,
             {{"route", "/odd/\"quoted\"/back\\slash/new\nline"},
              {"method", "GET"},
              {"code", "200"}}) == 1);
}

TEST_CASE("unknown routes, methods and codes are clipped so label cardinality stays bounded") {
  auto metrics = MakeMetrics();
  for (int i = 0; i < 1000; ++i) {
    metrics->RecordRequest("/api/thoughts/" + std::to_string(i), "GET", 404, absl::Milliseconds(1));
  }
  metrics->RecordRequest("/api/thoughts", "BREW", 200, absl::Milliseconds(1));
  metrics->RecordRequest("/api/thoughts", "get", 200, absl::Milliseconds(1));
  metrics->RecordRequest("/api/thoughts", "GET", 1000, absl::Milliseconds(1));
  metrics->RecordRequest("/api/thoughts", "GET", -1, absl::Milliseconds(1));

  const std::string text = metrics->RenderPrometheusText();
  const std::vector<Sample> samples = ParseExposition(text);
  CHECK(Find(samples, kRequests, {{"route", "unmatched"}, {"method", "GET"}, {"code", "404"}}) ==
        1000);
  CHECK(Find(samples, kRequests,
             {{"route", "/api/thoughts"}, {"method", "other"}, {"code", "200"}}) == 2);
  CHECK(Find(samples, kRequests, {{"route", "/api/thoughts"}, {"method", "GET"}, {"code", "0"}}) ==
        2);
  CHECK(text.find("/api/thoughts/1") == std::string::npos);
  std::set<std::string> routes;
  for (const Sample& sample : samples) {
    if (sample.labels.count("route") > 0) routes.insert(sample.labels.at("route"));
  }
  CHECK(routes == std::set<std::string>{"/api/thoughts", "unmatched"});
}

TEST_CASE("rate-limited, upstream errors and open connections are rendered") {
  auto metrics = MakeMetrics();
  std::vector<Sample> samples = ParseExposition(metrics->RenderPrometheusText());
  CHECK(Find(samples, "spine_gateway_rate_limited_total", {}) == 0);
  CHECK(Find(samples, "spine_gateway_open_connections", {}) == 0);

  metrics->RecordRateLimited();
  metrics->RecordRateLimited();
  metrics->RecordUpstreamError("storage", absl::StatusCode::kUnavailable);
  metrics->RecordUpstreamError("storage", absl::StatusCode::kUnavailable);
  metrics->RecordUpstreamError("llm", absl::StatusCode::kDeadlineExceeded);
  metrics->RecordUpstreamError("nonsense", static_cast<absl::StatusCode>(99));
  metrics->ConnectionOpened();
  metrics->ConnectionOpened();
  metrics->ConnectionOpened();
  metrics->ConnectionClosed();

  samples = ParseExposition(metrics->RenderPrometheusText());
  CHECK(Find(samples, "spine_gateway_rate_limited_total", {}) == 2);
  CHECK(Find(samples, "spine_gateway_open_connections", {}) == 2);
  const std::string errors = "spine_gateway_upstream_errors_total";
  CHECK(Find(samples, errors, {{"service", "storage"}, {"grpc_code", "UNAVAILABLE"}}) == 2);
  CHECK(Find(samples, errors, {{"service", "llm"}, {"grpc_code", "DEADLINE_EXCEEDED"}}) == 1);
  CHECK(Find(samples, errors, {{"service", "other"}, {"grpc_code", "UNKNOWN"}}) == 1);
}

TEST_CASE("every family has HELP and TYPE lines") {
  auto metrics = MakeMetrics();
  metrics->RecordRequest("/api/thoughts", "GET", 200, absl::Milliseconds(1));
  const std::string text = metrics->RenderPrometheusText();
  for (const std::string& family : std::vector<std::string>{
           "http_requests_total counter", "http_request_duration_seconds histogram",
           "rate_limited_total counter", "upstream_errors_total counter",
           "open_connections gauge"}) {
    INFO(family);
    CHECK(text.find("# TYPE spine_gateway_" + family + "\n") != std::string::npos);
    CHECK(text.find("# HELP spine_gateway_" + family.substr(0, family.find(' ')) + " ") !=
          std::string::npos);
  }
}

TEST_CASE("bad registrations are refused, naming the value") {
  GatewayMetricsOptions options;
  options.routes = {"/a", "/b", "/a"};
  absl::StatusOr<std::unique_ptr<GatewayMetrics>> metrics = GatewayMetrics::Create(options);
  REQUIRE_FALSE(metrics.ok());
  CHECK(metrics.status().message() == "metrics routes[2]: \"/a\" repeats metrics routes[0]");

  options.routes = {"unmatched"};
  CHECK_FALSE(GatewayMetrics::Create(options).ok());
  options.routes = {""};
  CHECK_FALSE(GatewayMetrics::Create(options).ok());
  options.routes = {};
  options.services = {"other"};
  CHECK_FALSE(GatewayMetrics::Create(options).ok());
  options.services = {};
  options.routes.assign(GatewayMetrics::kMaxRoutes + 1, "/x");
  CHECK_FALSE(GatewayMetrics::Create(options).ok());
}

TEST_CASE("concurrent increments from several threads sum exactly") {
  auto metrics = MakeMetrics();
  constexpr int kThreads = 4;
  constexpr int kPerThread = 20000;
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&metrics, t] {
      for (int i = 0; i < kPerThread; ++i) {
        // Half on one shared cell, half on a cell per thread's method.
        metrics->RecordRequest("/api/thoughts/{id}", "GET", 200, absl::Milliseconds(1));
        metrics->RecordRequest("/api/thoughts", t % 2 == 0 ? "POST" : "DELETE", 201,
                               absl::Microseconds(1));
        metrics->RecordRateLimited();
        metrics->RecordUpstreamError("tasks", absl::StatusCode::kUnavailable);
        metrics->ConnectionOpened();
        metrics->ConnectionClosed();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  const std::vector<Sample> samples = ParseExposition(metrics->RenderPrometheusText());
  const double total = static_cast<double>(kThreads) * kPerThread;
  CHECK(Find(samples, kRequests,
             {{"route", "/api/thoughts/{id}"}, {"method", "GET"}, {"code", "200"}}) == total);
  CHECK(Find(samples, kRequests,
             {{"route", "/api/thoughts"}, {"method", "POST"}, {"code", "201"}}) == total / 2);
  CHECK(Find(samples, kRequests,
             {{"route", "/api/thoughts"}, {"method", "DELETE"}, {"code", "201"}}) == total / 2);
  CHECK(Find(samples, "spine_gateway_http_request_duration_seconds_count",
             {{"route", "/api/thoughts/{id}"}, {"method", "GET"}}) == total);
  CHECK(Find(samples, "spine_gateway_http_request_duration_seconds_sum",
             {{"route", "/api/thoughts/{id}"}, {"method", "GET"}})
            .value_or(-1) == Approx(total * 0.001));
  CHECK(Find(samples, "spine_gateway_rate_limited_total", {}) == total);
  CHECK(Find(samples, "spine_gateway_upstream_errors_total",
             {{"service", "tasks"}, {"grpc_code", "UNAVAILABLE"}}) == total);
  CHECK(Find(samples, "spine_gateway_open_connections", {}) == 0);
}

}  // namespace
}  // namespace spine::gateway
