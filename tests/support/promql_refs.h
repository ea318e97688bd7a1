// What the operations kit (deploy/observability) asks of /metrics: the series and labels its
// alert rules and dashboard queries name, read out of PromQL, and the series and labels a
// Prometheus text exposition has. The observability tests compare the two on a live /metrics,
// so a rule or panel that names something the gateway does not export fails CI instead of
// staying silent in production.
#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "nlohmann/json.hpp"

namespace spine::testing {

// The names one PromQL expression refers to.
struct PromqlRefs {
  // Metric names: identifiers that are not a function, an aggregation, a keyword or a label,
  // e.g. both names in `sum(rate(a_total[5m])) / b`.
  std::set<std::string> metrics;
  // Label names that must exist on the metric they follow: `a{code=~"5.."}` gives (a, code).
  std::set<std::pair<std::string, std::string>> matchers;
  // Every label name used: the matchers' and those of by, without, on, ignoring, group_left
  // and group_right lists.
  std::set<std::string> labels;
};

// Reads PromQL leniently: strings, comments, durations and Grafana variables ($x, ${x},
// [[x]]) are skipped, so the result holds names only. Not a validator: promtool is that.
PromqlRefs ExtractPromqlRefs(std::string_view expr);

// The `expr:` values of a Prometheus rules file, in order, as YAML reads them (less a block
// scalar's final line break): plain, single- or double-quoted, or a block scalar (`|`, `>`).
std::vector<std::string> RuleExpressions(std::string_view yaml);
// The names of its `alert:` rules, in order.
std::vector<std::string> RuleAlertNames(std::string_view yaml);

// One query of a Grafana dashboard: its PromQL and the labels its legendFormat names
// ({{service}}).
struct DashboardQuery {
  std::string expr;
  std::set<std::string> legend_labels;
};
// Every query in the dashboard JSON (any object with an "expr" string, at any depth).
std::vector<DashboardQuery> DashboardQueries(const nlohmann::json& dashboard);

// A Prometheus text exposition (format 0.0.4), as far as names go.
struct Exposition {
  // Sample names that have at least one sample (histograms' _bucket, _sum and _count).
  std::set<std::string> samples;
  // Label names seen per sample name.
  std::map<std::string, std::set<std::string>> labels;
};
Exposition ParseExposition(std::string_view text);

// What the refs name that the exposition does not have, one line per problem ("series
// spine_x_total", "label code on spine_y", "label zone"), empty when everything exists.
// Prometheus' own `up` and the target labels `job` and `instance` exist on every scrape.
std::vector<std::string> MissingFromExposition(const PromqlRefs& refs,
                                               const Exposition& exposition);

}  // namespace spine::testing
