#include "services/gateway/transcode/path_template.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "libs/core/utf8.h"

namespace spine::gateway {
namespace {

bool IsFieldPath(absl::string_view path) {
  if (path.empty()) return false;
  for (absl::string_view part : absl::StrSplit(path, '.')) {
    if (part.empty() || absl::ascii_isdigit(static_cast<unsigned char>(part[0]))) return false;
    for (char c : part) {
      if (!absl::ascii_islower(static_cast<unsigned char>(c)) &&
          !absl::ascii_isdigit(static_cast<unsigned char>(c)) && c != '_') {
        return false;
      }
    }
  }
  return true;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

absl::StatusOr<std::string> PercentDecode(absl::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%') {
      const int hi = i + 1 < text.size() ? HexValue(text[i + 1]) : -1;
      const int lo = i + 2 < text.size() ? HexValue(text[i + 2]) : -1;
      if (hi < 0 || lo < 0) return absl::InvalidArgumentError("malformed %-escape");
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  if (!CheckUtf8(out).valid) return absl::InvalidArgumentError("not valid UTF-8");
  if (absl::StrContains(out, '\0')) return absl::InvalidArgumentError("contains a NUL byte");
  return out;
}

absl::StatusOr<std::vector<std::string>> SplitPath(absl::string_view path) {
  if (!absl::StartsWith(path, "/")) return absl::InvalidArgumentError("path: must start with /");
  path.remove_prefix(1);
  std::vector<std::string> segments;
  for (absl::string_view raw : absl::StrSplit(path, '/')) {
    absl::StatusOr<std::string> decoded = PercentDecode(raw, /*plus_is_space=*/false);
    if (!decoded.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("path: ", decoded.status().message()));
    }
    segments.push_back(*std::move(decoded));
  }
  return segments;
}

absl::StatusOr<PathTemplate> PathTemplate::Parse(absl::string_view text) {
  if (!absl::StartsWith(text, "/") || text.size() < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("path template '", text, "': must start with /"));
  }
  std::vector<Segment> segments;
  for (absl::string_view raw : absl::StrSplit(text.substr(1), '/')) {
    if (raw.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("path template '", text, "': empty segment"));
    }
    if (absl::StartsWith(raw, "{")) {
      if (!absl::EndsWith(raw, "}") || !IsFieldPath(raw.substr(1, raw.size() - 2))) {
        return absl::InvalidArgumentError(
            absl::StrCat("path template '", text, "': bad variable '", raw, "'"));
      }
      segments.push_back({.variable = true, .text = std::string(raw.substr(1, raw.size() - 2))});
    } else {
      if (absl::StrContains(raw, '{') || absl::StrContains(raw, '}')) {
        return absl::InvalidArgumentError(
            absl::StrCat("path template '", text, "': a variable must fill its segment"));
      }
      segments.push_back({.variable = false, .text = std::string(raw)});
    }
  }
  return PathTemplate(std::string(text), std::move(segments));
}

std::optional<PathBindings> PathTemplate::Match(const std::vector<std::string>& segments) const {
  if (segments.size() != segments_.size()) return std::nullopt;
  PathBindings bindings;
  for (size_t i = 0; i < segments.size(); ++i) {
    if (segments_[i].variable) {
      if (segments[i].empty()) return std::nullopt;
      bindings.emplace_back(segments_[i].text, segments[i]);
    } else if (segments_[i].text != segments[i]) {
      return std::nullopt;
    }
  }
  return bindings;
}

std::vector<std::string> PathTemplate::Variables() const {
  std::vector<std::string> variables;
  for (const Segment& segment : segments_) {
    if (segment.variable) variables.push_back(segment.text);
  }
  return variables;
}

std::string PathTemplate::Expand(const std::vector<std::string>& values) const {
  std::string out;
  size_t next = 0;
  for (const Segment& segment : segments_) {
    out += '/';
    if (!segment.variable) {
      out += segment.text;
    } else if (next < values.size()) {
      out += values[next++];
    }
  }
  return out;
}

}  // namespace spine::gateway
