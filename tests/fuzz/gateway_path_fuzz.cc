// Fuzz target for the gateway's request-path handling: SplitPath on the request path,
// PathTemplate::Match of a fixed set of real templates on its segments, and PathTemplate::Parse
// on the same bytes.
//
// Properties checked on every input:
//  - SplitPath never crashes; an error is INVALID_ARGUMENT "path: ..."; on success the input
//    starts with '/', there is one segment per '/', every segment is valid UTF-8 without NUL,
//    a raw segment without '%' comes back unchanged, and percent-encoding every byte of every
//    segment splits back to the same segments;
//  - a template match binds its variables in order, each to the non-empty segment at the
//    variable's position, while every literal equals its segment; and when no value holds a '/'
//    or '%', Expand(values) splits back to the matched segments;
//  - Parse success implies text() == input, a '/'-led input without empty segments, and the
//    parsed template matching its own Expand of non-empty values; an error is INVALID_ARGUMENT.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "libs/core/utf8.h"
#include "services/gateway/transcode/path_template.h"

namespace {

using spine::gateway::PathBindings;
using spine::gateway::PathTemplate;
using spine::gateway::SplitPath;

// Templates of real routes (see the (google.api.http) options in proto/spine/v1).
constexpr absl::string_view kTemplates[] = {
    "/api/thoughts",
    "/api/thoughts/{id}",
    "/api/plugins/list",
    "/api/plugins/{name}",
    "/api/plugins/{name}/invoke",
    "/api/pipelines/{pipeline_id}/runs",
    "/api/conversations/{id}/messages",
    "/api/runs/{id}/cancel",
};

void Fail(const char* what) {
  std::fprintf(stderr, "gateway_path_fuzz: %s\n", what);
  std::abort();
}

std::string EncodeEveryByte(absl::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    const auto byte = static_cast<uint8_t>(c);
    out += '%';
    out += kHex[byte >> 4];
    out += kHex[byte & 0xF];
  }
  return out;
}

std::vector<PathTemplate> ParseTemplates() {
  std::vector<PathTemplate> parsed;
  for (const absl::string_view text : kTemplates) {
    absl::StatusOr<PathTemplate> path = PathTemplate::Parse(text);
    if (!path.ok()) Fail("a fixed template does not parse");
    parsed.push_back(*std::move(path));
  }
  return parsed;
}

void CheckMatch(const PathTemplate& path, const std::vector<std::string>& segments) {
  const std::optional<PathBindings> bindings = path.Match(segments);
  if (!bindings) return;
  const std::vector<std::string> template_segments =
      absl::StrSplit(absl::string_view(path.text()).substr(1), '/');
  if (template_segments.size() != segments.size()) Fail("matched a different segment count");
  const std::vector<std::string> variables = path.Variables();
  if (bindings->size() != variables.size()) Fail("not one binding per variable");
  std::vector<std::string> values;
  size_t next = 0;
  for (size_t i = 0; i < segments.size(); ++i) {
    const std::string& piece = template_segments[i];
    if (absl::StartsWith(piece, "{")) {
      const auto& [field, value] = (*bindings)[next];
      if (field != variables[next] || field != piece.substr(1, piece.size() - 2)) {
        Fail("binding names the wrong variable");
      }
      if (value.empty() || value != segments[i]) Fail("binding is not its decoded segment");
      values.push_back(value);
      ++next;
    } else if (piece != segments[i]) {
      Fail("literal segment matched a different segment");
    }
  }
  bool plain = true;
  for (const std::string& value : values) {
    plain = plain && !absl::StrContains(value, '/') && !absl::StrContains(value, '%');
  }
  if (plain) {
    const absl::StatusOr<std::vector<std::string>> expanded = SplitPath(path.Expand(values));
    if (!expanded.ok() || *expanded != segments) Fail("Expand does not give back the path");
  }
}

void CheckSplit(absl::string_view input) {
  const absl::StatusOr<std::vector<std::string>> segments = SplitPath(input);
  if (!segments.ok()) {
    if (segments.status().code() != absl::StatusCode::kInvalidArgument ||
        !absl::StartsWith(segments.status().message(), "path: ")) {
      Fail("SplitPath error is not INVALID_ARGUMENT \"path: ...\"");
    }
    return;
  }
  if (!absl::StartsWith(input, "/")) Fail("SplitPath accepted a path without a leading /");
  const std::vector<absl::string_view> raw = absl::StrSplit(input.substr(1), '/');
  if (raw.size() != segments->size()) Fail("not one segment per /");
  std::string encoded;
  for (size_t i = 0; i < raw.size(); ++i) {
    const std::string& segment = (*segments)[i];
    if (!spine::CheckUtf8(segment).valid) Fail("segment is not valid UTF-8");
    if (absl::StrContains(segment, '\0')) Fail("segment contains NUL");
    if (!absl::StrContains(raw[i], '%') && segment != raw[i]) Fail("plain segment changed");
    encoded += '/';
    encoded += EncodeEveryByte(segment);
  }
  const absl::StatusOr<std::vector<std::string>> again = SplitPath(encoded);
  if (!again.ok() || *again != *segments) Fail("percent-encoded segments do not split back");

  static const std::vector<PathTemplate> templates = ParseTemplates();
  for (const PathTemplate& path : templates) CheckMatch(path, *segments);
}

void CheckParse(absl::string_view input) {
  const absl::StatusOr<PathTemplate> parsed = PathTemplate::Parse(input);
  if (!parsed.ok()) {
    if (parsed.status().code() != absl::StatusCode::kInvalidArgument) {
      Fail("Parse error is not INVALID_ARGUMENT");
    }
    return;
  }
  if (parsed->text() != input) Fail("Parse changed the text");
  if (!absl::StartsWith(input, "/") || absl::StrContains(input, "//") ||
      absl::EndsWith(input, "/")) {
    Fail("Parse accepted an empty segment");
  }
  // A template matches its own expansion when every value is a plain non-empty segment (and no
  // literal holds a %-escape, which the path side would decode).
  if (absl::StrContains(input, '%')) return;
  const std::vector<std::string> values(parsed->Variables().size(), "v");
  const absl::StatusOr<std::vector<std::string>> segments = SplitPath(parsed->Expand(values));
  if (segments.ok()) {
    if (!parsed->Match(*segments)) Fail("template does not match its own expansion");
    CheckMatch(*parsed, *segments);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  CheckSplit(input);
  CheckParse(input);
  return 0;
}
