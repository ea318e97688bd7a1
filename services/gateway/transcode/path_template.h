// Path templates of the HTTP mapping option: "/api/thoughts/{id}", "/api/plugins/{name}/invoke".
//
// A template is literal segments and variables; a variable `{field}` or `{a.b}` (a field path of
// the request message) matches exactly one non-empty path segment. Paths are split and
// percent-decoded before matching, so "%2F" inside a segment stays inside that segment's value.
// Immutable after Parse, so thread-safe.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace spine::gateway {

// (field path, decoded segment) for every variable of a matched template, in template order.
using PathBindings = std::vector<std::pair<std::string, std::string>>;

class PathTemplate {
 public:
  // INVALID_ARGUMENT unless `text` starts with '/', has no empty segment, and every variable is a
  // dotted path of [a-z0-9_] identifiers in braces filling its whole segment.
  static absl::StatusOr<PathTemplate> Parse(absl::string_view text);

  // The bindings when `segments` (from SplitPath) match, else nullopt.
  std::optional<PathBindings> Match(const std::vector<std::string>& segments) const;

  const std::string& text() const { return text_; }
  // The field paths of the variables, in order.
  std::vector<std::string> Variables() const;
  // The template with every variable replaced by `values` (in order); for Location headers.
  std::string Expand(const std::vector<std::string>& values) const;

 private:
  struct Segment {
    bool variable = false;
    std::string text{};  // the literal, or the variable's field path
  };
  PathTemplate(std::string text, std::vector<Segment> segments)
      : text_(std::move(text)), segments_(std::move(segments)) {}

  std::string text_;
  std::vector<Segment> segments_;
};

// Splits a request path ("/api/thoughts/42") into percent-decoded segments {"api", "thoughts",
// "42"}. INVALID_ARGUMENT when it does not start with '/', has a bad %-escape, or decodes to
// invalid UTF-8 or a NUL. A trailing slash gives a last empty segment, which no template matches.
absl::StatusOr<std::vector<std::string>> SplitPath(absl::string_view path);

// Percent-decodes `text`; with `plus_is_space` ('+' → ' ', as in query strings). INVALID_ARGUMENT
// on a bad escape, invalid UTF-8 or a NUL.
absl::StatusOr<std::string> PercentDecode(absl::string_view text, bool plus_is_space);

}  // namespace spine::gateway
