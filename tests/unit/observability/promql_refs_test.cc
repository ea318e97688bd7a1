// The names read out of PromQL, rules files, dashboards and expositions (tests/support/
// promql_refs.h): what lets the live /metrics check fail on a name that does not exist.
#include "tests/support/promql_refs.h"

#include <catch2/catch.hpp>
#include <set>
#include <string>
#include <vector>

namespace spine::testing {
namespace {

using Names = std::set<std::string>;
using Matchers = std::set<std::pair<std::string, std::string>>;

TEST_CASE("PromQL: metric names, not functions, aggregations, keywords or durations") {
  const PromqlRefs refs = ExtractPromqlRefs(
      "histogram_quantile(0.99, sum by (le, route) "
      "(rate(a_seconds_bucket{route!~\"/api/x.*\"}[5m])))"
      " > 1 and on() sum(rate(b_total[1h:1m] offset 5m)) / c > bool 2.5e3"
      " unless ignoring(zone) group_left(extra) d:recorded");
  CHECK(refs.metrics == Names{"a_seconds_bucket", "b_total", "c", "d:recorded"});
  CHECK(refs.labels == Names{"le", "route", "zone", "extra"});
  CHECK(refs.matchers == Matchers{{"a_seconds_bucket", "route"}});
}

TEST_CASE("PromQL: matchers belong to the metric before them; strings never count as names") {
  const PromqlRefs refs = ExtractPromqlRefs(
      "up{job=\"spine-gateway\", instance=~'gateway:.*'} == 0 or count without (code) "
      "(x_total{code=~\"5..\",method!=\"GET\"}) or {__name__=\"y_bytes\", service=\"sum\"}"
      " # a comment naming not_a_metric\n");
  CHECK(refs.metrics == Names{"up", "x_total", "y_bytes"});
  CHECK(refs.matchers ==
        Matchers{{"up", "job"}, {"up", "instance"}, {"x_total", "code"}, {"x_total", "method"}});
  CHECK(refs.labels == Names{"job", "instance", "code", "method", "service"});
}

TEST_CASE("PromQL: Grafana variables are skipped") {
  const PromqlRefs refs = ExtractPromqlRefs(
      "sum by (service) (rate(z_total{service=~\"$service\"}[$__rate_interval])) * ${factor} + "
      "[[legacy]]");
  CHECK(refs.metrics == Names{"z_total"});
  CHECK(refs.labels == Names{"service"});
}

TEST_CASE("rules files: every form of expr value, and the alert names") {
  const std::string yaml = R"(groups:
  - name: g
    rules:
      - alert: Plain
        expr: a_total > 1  # a comment
        for: 1m
      - alert: "Quoted"
        expr: "b{x=\"1\"} == 0"
      - alert: Single
        expr: 'c{y=''z''} == 0'
      - alert: Block
        expr: |
          sum(rate(d_total[5m]))

            / e
        labels:
          severity: warning
      - expr: >-
          f
          > 2
        record: f:two
      - alert: Folded
        expr: g
          + h
)";
  CHECK(RuleExpressions(yaml) ==
        std::vector<std::string>{"a_total > 1", "b{x=\"1\"} == 0", "c{y='z'} == 0",
                                 "sum(rate(d_total[5m]))\n\n  / e", "f > 2", "g + h"});
  CHECK(RuleAlertNames(yaml) ==
        std::vector<std::string>{"Plain", "Quoted", "Single", "Block", "Folded"});
}

TEST_CASE("dashboards: every expr at any depth, with the labels its legend names") {
  const nlohmann::json dashboard = nlohmann::json::parse(R"({
    "panels": [
      {"targets": [{"expr": "a", "legendFormat": "{{service}} {{ grpc_code }}"}]},
      {"type": "row", "panels": [{"targets": [{"expr": "b", "legendFormat": "plain"}]}]}
    ]})");
  const std::vector<DashboardQuery> queries = DashboardQueries(dashboard);
  REQUIRE(queries.size() == 2);
  CHECK(queries[0].expr == "a");
  CHECK(queries[0].legend_labels == Names{"service", "grpc_code"});
  CHECK(queries[1].expr == "b");
  CHECK(queries[1].legend_labels.empty());
}

TEST_CASE("a name the exposition does not have is reported; what it has is not") {
  const Exposition exposition = ParseExposition(
      "# HELP a_seconds Latency.\n"
      "# TYPE a_seconds histogram\n"
      "a_seconds_bucket{route=\"/x\",le=\"+Inf\"} 3\n"
      "a_seconds_sum{route=\"/x\"} 1.5\n"
      "a_seconds_count{route=\"/x\"} 3\n"
      "# TYPE b_total counter\n"
      "b_total{code=\"200\",note=\"has } and \\\" inside\"} 1\n"
      "# TYPE declared_only gauge\n"
      "c 0\n");
  CHECK(exposition.samples ==
        Names{"a_seconds_bucket", "a_seconds_sum", "a_seconds_count", "b_total", "c"});
  CHECK(exposition.labels.at("b_total") == Names{"code", "note"});

  auto missing = [&](const std::string& expr) {
    return MissingFromExposition(ExtractPromqlRefs(expr), exposition);
  };
  CHECK(missing("histogram_quantile(0.99, sum by (le) (rate(a_seconds_bucket{route=\"/x\"}[5m])))"
                " / a_seconds_count + b_total{code=\"500\"} + c + up{job=\"j\",instance=\"i\"}")
            .empty());
  // A wrong series name, a histogram's family name (not a sample), a declared family with no
  // sample, a label the series lacks, a label nothing has.
  CHECK(missing("a_second_bucket") == std::vector<std::string>{"series a_second_bucket"});
  CHECK(missing("rate(a_seconds[5m])") == std::vector<std::string>{"series a_seconds"});
  CHECK(missing("declared_only") == std::vector<std::string>{"series declared_only"});
  CHECK(missing("b_total{route=\"/x\"}") == std::vector<std::string>{"label route on b_total"});
  CHECK(missing("sum by (zone) (c)") == std::vector<std::string>{"label zone"});
}

}  // namespace
}  // namespace spine::testing
