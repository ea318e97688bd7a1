// Fuzz target for the gateway's query-string and JSON-body transcoding: ParseQueryString on the
// raw bytes, then BuildRequest on real routes (from the proto annotations, built once) with those
// bytes as the query string and, separately, as the JSON body.
//
// Properties checked on every input:
//  - ParseQueryString never crashes; an error is INVALID_ARGUMENT; on success there are at most
//    kMaxQueryParams pairs, one per non-empty '&'-separated part, keys are non-empty, keys and
//    values are valid UTF-8 without NUL, and percent-encoding every byte gives the same pairs back;
//  - BuildRequest never crashes; an error is INVALID_ARGUMENT with a message; on success the
//    message is the route's request type and every path variable holds its path value (the path
//    wins over the query and the body).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "libs/core/utf8.h"
#include "libs/rpc/method_access.h"
#include "services/gateway/transcode/path_template.h"
#include "services/gateway/transcode/route_table.h"
#include "services/gateway/transcode/transcoder.h"

namespace {

using google::protobuf::FieldDescriptor;
using spine::gateway::QueryParams;
using spine::gateway::RouteMatch;
using spine::gateway::RouteTable;

void Fail(const char* what) {
  std::fprintf(stderr, "gateway_query_fuzz: %s\n", what);
  std::abort();
}

// A request the way the handler sees it: method and path, matched against the real routes.
struct Request {
  const char* method;
  const char* path;
};

// Routes whose request takes query parameters (no body).
constexpr Request kQueryRoutes[] = {
    {"GET", "/api/thoughts"},     // int32 page_size, strings
    {"GET", "/api/thoughts/42"},  // int64 id from the path
    {"GET", "/api/runs"},         // int64 pipeline_id, state
    {"DELETE", "/api/conversations/9"},
    {"GET", "/api/plugins/list"},
    {"POST", "/api/runs/5/cancel"},  // no body, path only
    {"POST", "/api/thoughts"},       // body "*": any query parameter is refused
};

// Routes whose request is the JSON body.
constexpr Request kBodyRoutes[] = {
    {"POST", "/api/thoughts"},             // string, repeated string
    {"PATCH", "/api/thoughts/7"},          // update_mask filled from the body's keys
    {"POST", "/api/plugins/echo/invoke"},  // google.protobuf.Value, optional int32
    {"POST", "/api/pipelines"},            // google.protobuf.Struct
    {"POST", "/api/pipelines/3/runs"},     // Value, path int64
    {"POST", "/api/llm/generate"},
    {"POST", "/api/auth/login"},
    {"POST", "/api/conversations/11/messages"},
};

const RouteTable& Routes() {
  static const RouteTable routes = [] {
    absl::StatusOr<RouteTable> built = RouteTable::Build(spine::rpc::SpineApiFiles());
    if (!built.ok()) Fail("the route table does not build");
    return *std::move(built);
  }();
  return routes;
}

RouteMatch MatchOrDie(const Request& request) {
  const absl::StatusOr<std::vector<std::string>> segments = spine::gateway::SplitPath(request.path);
  if (!segments.ok()) Fail("a fixed path does not split");
  auto match = Routes().Match(request.method, *segments);
  const auto* found = std::get_if<RouteMatch>(&match);
  if (found == nullptr) {
    std::fprintf(stderr, "gateway_query_fuzz: no route for %s %s\n", request.method, request.path);
    std::abort();
  }
  return *found;
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

void CheckValidText(const std::string& text) {
  if (!spine::CheckUtf8(text).valid) Fail("decoded text is not valid UTF-8");
  if (text.find('\0') != std::string::npos) Fail("decoded text contains NUL");
}

absl::StatusOr<QueryParams> CheckParseQueryString(absl::string_view input) {
  absl::StatusOr<QueryParams> params = spine::gateway::ParseQueryString(input);
  if (!params.ok()) {
    if (params.status().code() != absl::StatusCode::kInvalidArgument) {
      Fail("ParseQueryString error is not INVALID_ARGUMENT");
    }
    return params;
  }
  if (params->size() > spine::gateway::kMaxQueryParams) Fail("more than kMaxQueryParams pairs");
  const std::vector<absl::string_view> parts = absl::StrSplit(input, '&', absl::SkipEmpty());
  if (parts.size() != params->size()) Fail("not one pair per non-empty part");
  std::string encoded;
  for (const auto& [key, value] : *params) {
    if (key.empty()) Fail("empty key");
    CheckValidText(key);
    CheckValidText(value);
    if (!encoded.empty()) encoded += '&';
    encoded += EncodeEveryByte(key) + "=" + EncodeEveryByte(value);
  }
  const absl::StatusOr<QueryParams> again = spine::gateway::ParseQueryString(encoded);
  if (!again.ok() || *again != *params) Fail("percent-encoded pairs do not parse back");
  return params;
}

// BuildRequest on `match` must give INVALID_ARGUMENT or the route's request with every path
// variable set from the path.
void CheckBuild(const RouteMatch& match, const QueryParams& query, absl::string_view body) {
  const absl::StatusOr<std::unique_ptr<google::protobuf::Message>> request =
      spine::gateway::BuildRequest(*match.route, match.bindings, query, body);
  if (!request.ok()) {
    if (request.status().code() != absl::StatusCode::kInvalidArgument ||
        request.status().message().empty()) {
      Fail("BuildRequest error is not INVALID_ARGUMENT with a message");
    }
    return;
  }
  if (*request == nullptr) Fail("BuildRequest returned a null message");
  const google::protobuf::Descriptor* input = match.route->method->input_type();
  if ((*request)->GetDescriptor() != input) Fail("BuildRequest built the wrong message type");
  const google::protobuf::Reflection* reflection = (*request)->GetReflection();
  for (const auto& [variable, value] : match.bindings) {
    const FieldDescriptor* field = spine::gateway::FindFieldPath(input, variable);
    if (field == nullptr || field->containing_type() != input) continue;
    bool same = false;
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT64: {
        int64_t number = 0;
        same = absl::SimpleAtoi(value, &number) && reflection->GetInt64(**request, field) == number;
        break;
      }
      case FieldDescriptor::CPPTYPE_STRING:
        same = reflection->GetString(**request, field) == value;
        break;
      default:
        same = true;
    }
    if (!same) Fail("a path variable does not hold its path value");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<RouteMatch> query_routes = [] {
    std::vector<RouteMatch> matches;
    for (const Request& request : kQueryRoutes) matches.push_back(MatchOrDie(request));
    return matches;
  }();
  static const std::vector<RouteMatch> body_routes = [] {
    std::vector<RouteMatch> matches;
    for (const Request& request : kBodyRoutes) matches.push_back(MatchOrDie(request));
    return matches;
  }();
  const absl::string_view input(reinterpret_cast<const char*>(data), size);

  const absl::StatusOr<QueryParams> query = CheckParseQueryString(input);
  if (query.ok()) {
    for (const RouteMatch& match : query_routes) CheckBuild(match, *query, "");
  }
  for (const RouteMatch& match : body_routes) CheckBuild(match, QueryParams(), input);
  return 0;
}
