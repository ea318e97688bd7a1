#include "tests/support/promql_refs.h"

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <utility>

#include "absl/strings/str_cat.h"

namespace spine::testing {
namespace {

bool IsIdentStart(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) != 0 || c == '_' || c == ':';
}
bool IsIdentChar(char c) { return IsIdentStart(c) || std::isdigit(static_cast<unsigned char>(c)); }
bool IsSpace(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }
// s[i], or '\0' past the end.
char CharAt(std::string_view s, size_t i) { return i < s.size() ? s[i] : '\0'; }

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Aggregation operators: followed by `(` or by a `by`/`without` clause, never a metric.
const std::set<std::string>& Aggregations() {
  static const std::set<std::string> kNames = {"sum",          "min",     "max",    "avg",
                                               "group",        "stddev",  "stdvar", "count",
                                               "count_values", "bottomk", "topk",   "quantile"};
  return kNames;
}
// Words that take a parenthesised list of label names.
const std::set<std::string>& LabelListKeywords() {
  static const std::set<std::string> kNames = {"by",       "without",    "on",
                                               "ignoring", "group_left", "group_right"};
  return kNames;
}
// Other words that are never a metric name.
const std::set<std::string>& Keywords() {
  static const std::set<std::string> kNames = {"and",   "or",  "unless", "bool",  "offset",
                                               "atan2", "inf", "nan",    "start", "end"};
  return kNames;
}

class Scanner {
 public:
  explicit Scanner(std::string_view text) : s_(text) {}

  PromqlRefs Run() {
    while (i_ < s_.size()) Step();
    return std::move(refs_);
  }

 private:
  char At(size_t i) const { return CharAt(s_, i); }
  void SkipSpace() {
    while (i_ < s_.size() && IsSpace(s_[i_])) ++i_;
  }
  // i_ at an opening quote: moves past the closing one.
  void SkipString() {
    const char quote = s_[i_++];
    while (i_ < s_.size() && s_[i_] != quote) {
      if (s_[i_] == '\\' && quote != '`') ++i_;
      ++i_;
    }
    ++i_;
  }
  std::string_view Ident() {
    const size_t start = i_;
    while (i_ < s_.size() && IsIdentChar(s_[i_])) ++i_;
    return s_.substr(start, i_ - start);
  }

  void Step() {
    const char c = s_[i_];
    if (c == '"' || c == '\'' || c == '`') {
      SkipString();
    } else if (c == '#') {  // a comment, to the end of the line
      while (i_ < s_.size() && s_[i_] != '\n') ++i_;
    } else if (c == '$') {  // Grafana: $var, ${var}, ${var:fmt}
      ++i_;
      if (At(i_) == '{') {
        while (i_ < s_.size() && s_[i_] != '}') ++i_;
        ++i_;
      } else {
        Ident();
      }
    } else if (c == '[') {  // a range or subquery duration, or Grafana's [[var]]
      while (i_ < s_.size() && s_[i_] != ']') ++i_;
      while (At(i_) == ']') ++i_;
    } else if (c == '{') {
      Matchers(last_metric_);
    } else if (std::isdigit(static_cast<unsigned char>(c)) ||
               (c == '.' && std::isdigit(static_cast<unsigned char>(At(i_ + 1))))) {
      // A number or a duration (1e3, 0x1f, 5m, 1h30m): its letters are not names.
      while (i_ < s_.size() && (IsIdentChar(s_[i_]) || s_[i_] == '.')) ++i_;
      last_metric_.clear();
    } else if (IsIdentStart(c)) {
      Word();
    } else {
      ++i_;
      if (!IsSpace(c)) last_metric_.clear();
    }
  }

  void Word() {
    const std::string word(Ident());
    const std::string lower = Lower(word);
    const size_t after = i_;
    SkipSpace();
    const char next = At(i_);
    last_metric_.clear();
    if (LabelListKeywords().count(lower) > 0) {
      if (next == '(') LabelList();
      return;
    }
    if (Keywords().count(lower) > 0) return;
    if (Aggregations().count(lower) > 0 && (next == '(' || IsIdentStart(next))) return;
    if (next == '(') return;  // a function
    refs_.metrics.insert(word);
    last_metric_ = word;
    i_ = after;
  }

  // i_ at `(` after by/without/on/...: the label names up to `)`.
  void LabelList() {
    ++i_;
    while (i_ < s_.size() && s_[i_] != ')') {
      if (IsIdentStart(s_[i_])) {
        refs_.labels.insert(std::string(Ident()));
      } else {
        ++i_;
      }
    }
    ++i_;
  }

  // i_ at `{`: `name op "value"` pairs up to `}`; `metric` is the name before the brace, if any.
  void Matchers(const std::string& metric) {
    ++i_;
    while (i_ < s_.size()) {
      SkipSpace();
      const char c = At(i_);
      if (c == '}') {
        ++i_;
        break;
      }
      if (c == '"' || c == '\'' || c == '`') {
        SkipString();
      } else if (IsIdentStart(c)) {
        const std::string label(Ident());
        SkipSpace();
        // `{__name__="x"}` names a metric rather than a label.
        if (label == "__name__") {
          while (i_ < s_.size() && s_[i_] != '"' && s_[i_] != '\'' && s_[i_] != '`') ++i_;
          const size_t start = i_ + 1;
          SkipString();
          refs_.metrics.insert(std::string(s_.substr(start, i_ - start - 1)));
          continue;
        }
        refs_.labels.insert(label);
        if (!metric.empty()) refs_.matchers.emplace(metric, label);
      } else {
        ++i_;  // operators and commas
      }
    }
    last_metric_.clear();
  }

  std::string_view s_;
  size_t i_ = 0;
  std::string last_metric_;  // the metric just read, for a `{` right after it
  PromqlRefs refs_;
};

std::vector<std::string_view> Lines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

size_t Indent(std::string_view line) {
  size_t n = 0;
  while (n < line.size() && line[n] == ' ') ++n;
  return n;
}

bool Blank(std::string_view line) { return Indent(line) == line.size(); }

std::string_view TrimRight(std::string_view s) {
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// Whether `line` holds `key:` ("  - expr: x"); if so, where the key starts and its value.
bool ValueOf(std::string_view line, std::string_view key, size_t* key_indent,
             std::string_view* value) {
  size_t at = Indent(line);
  if (line.substr(at, 2) == "- ") at = Indent(line.substr(at + 2)) + at + 2;
  if (line.substr(at, key.size()) != key || CharAt(line, at + key.size()) != ':') return false;
  *key_indent = at;
  std::string_view rest = line.substr(at + key.size() + 1);
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  *value = TrimRight(rest);
  return true;
}

// YAML scalars: the value that starts on `lines[*index]` after `key:`, consuming its
// continuation lines.
std::string Scalar(const std::vector<std::string_view>& lines, size_t* index, size_t key_indent,
                   std::string_view first) {
  // Lines that belong to the value: more indented than the key, or blank.
  std::vector<std::string_view> more;
  size_t next = *index + 1;
  while (next < lines.size() && (Blank(lines[next]) || Indent(lines[next]) > key_indent)) {
    more.push_back(lines[next++]);
  }
  while (!more.empty() && Blank(more.back())) {
    more.pop_back();
    --next;
  }
  *index = next - 1;
  if (!first.empty() && (first.front() == '|' || first.front() == '>')) {
    const bool folded = first.front() == '>';
    size_t indent = std::string_view::npos;
    for (std::string_view line : more) {
      if (!Blank(line)) indent = std::min(indent, Indent(line));
    }
    std::string out;
    for (std::string_view line : more) {
      if (!out.empty()) out += folded && !Blank(line) ? ' ' : '\n';
      if (!Blank(line)) out += line.substr(indent);
    }
    return out;
  }
  // Quoted or plain: continuation lines fold into one with spaces.
  std::string joined(first);
  for (std::string_view line : more) {
    joined += ' ';
    joined += TrimRight(line.substr(Indent(line)));
  }
  if (!joined.empty() && joined.front() == '"') {
    std::string out;
    for (size_t i = 1; i < joined.size() && joined[i] != '"'; ++i) {
      if (joined[i] == '\\' && i + 1 < joined.size()) ++i;
      out += joined[i];
    }
    return out;
  }
  if (!joined.empty() && joined.front() == '\'') {
    std::string out;
    for (size_t i = 1; i < joined.size(); ++i) {
      if (joined[i] == '\'') {
        if (i + 1 < joined.size() && joined[i + 1] == '\'') {
          out += '\'';
          ++i;
          continue;
        }
        break;
      }
      out += joined[i];
    }
    return out;
  }
  // A plain scalar ends at " #" (a comment).
  const size_t comment = joined.find(" #");
  return std::string(TrimRight(std::string_view(joined).substr(0, comment)));
}

std::vector<std::string> ValuesOf(std::string_view yaml, std::string_view key) {
  const std::vector<std::string_view> lines = Lines(yaml);
  std::vector<std::string> values;
  for (size_t i = 0; i < lines.size(); ++i) {
    size_t key_indent = 0;
    std::string_view value;
    if (ValueOf(lines[i], key, &key_indent, &value)) {
      values.push_back(Scalar(lines, &i, key_indent, value));
    }
  }
  return values;
}

void CollectQueries(const nlohmann::json& node, std::vector<DashboardQuery>* out) {
  if (node.is_object()) {
    const auto expr = node.find("expr");
    if (expr != node.end() && expr->is_string()) {
      DashboardQuery query{.expr = expr->get<std::string>(), .legend_labels = {}};
      const auto legend = node.find("legendFormat");
      if (legend != node.end() && legend->is_string()) {
        const std::string text = legend->get<std::string>();
        for (size_t open = text.find("{{"); open != std::string::npos;
             open = text.find("{{", open + 2)) {
          const size_t close = text.find("}}", open);
          if (close == std::string::npos) break;
          std::string_view name = std::string_view(text).substr(open + 2, close - open - 2);
          while (!name.empty() && IsSpace(name.front())) name.remove_prefix(1);
          name = TrimRight(name);
          query.legend_labels.insert(std::string(name));
        }
      }
      out->push_back(std::move(query));
    }
  }
  if (node.is_structured()) {
    for (const nlohmann::json& child : node) CollectQueries(child, out);
  }
}

}  // namespace

PromqlRefs ExtractPromqlRefs(std::string_view expr) { return Scanner(expr).Run(); }

std::vector<std::string> RuleExpressions(std::string_view yaml) { return ValuesOf(yaml, "expr"); }

std::vector<std::string> RuleAlertNames(std::string_view yaml) { return ValuesOf(yaml, "alert"); }

std::vector<DashboardQuery> DashboardQueries(const nlohmann::json& dashboard) {
  std::vector<DashboardQuery> queries;
  CollectQueries(dashboard, &queries);
  return queries;
}

Exposition ParseExposition(std::string_view text) {
  Exposition exposition;
  for (std::string_view line : Lines(text)) {
    if (line.empty() || line.front() == '#') continue;
    size_t i = 0;
    while (i < line.size() && IsIdentChar(line[i])) ++i;
    const std::string name(line.substr(0, i));
    if (name.empty()) continue;
    exposition.samples.insert(name);
    std::set<std::string>& labels = exposition.labels[name];
    if (CharAt(line, i) != '{') continue;
    ++i;
    while (i < line.size() && line[i] != '}') {
      if (IsIdentStart(line[i])) {
        const size_t start = i;
        while (i < line.size() && IsIdentChar(line[i])) ++i;
        labels.insert(std::string(line.substr(start, i - start)));
      } else if (line[i] == '"') {
        for (++i; i < line.size() && line[i] != '"'; ++i) {
          if (line[i] == '\\') ++i;
        }
        ++i;
      } else {
        ++i;
      }
    }
  }
  return exposition;
}

std::vector<std::string> MissingFromExposition(const PromqlRefs& refs,
                                               const Exposition& exposition) {
  static const std::set<std::string> kTargetLabels = {"job", "instance"};
  std::vector<std::string> missing;
  for (const std::string& metric : refs.metrics) {
    if (metric == "up") continue;  // Prometheus' own, per target
    if (exposition.samples.count(metric) == 0) missing.push_back(absl::StrCat("series ", metric));
  }
  for (const auto& [metric, label] : refs.matchers) {
    if (kTargetLabels.count(label) > 0) continue;
    const auto it = exposition.labels.find(metric);
    if (it != exposition.labels.end() && it->second.count(label) == 0) {
      missing.push_back(absl::StrCat("label ", label, " on ", metric));
    }
  }
  for (const std::string& label : refs.labels) {
    if (kTargetLabels.count(label) > 0) continue;
    bool seen = false;
    for (const auto& [metric, labels] : exposition.labels) seen = seen || labels.count(label) > 0;
    if (!seen) missing.push_back(absl::StrCat("label ", label));
  }
  return missing;
}

}  // namespace spine::testing
