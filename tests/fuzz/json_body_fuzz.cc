// Fuzz target for the gateway's JSON request bodies: what a POST, PUT or PATCH body goes through
// before it becomes the request message of an RPC (BuildRequest in
// services/gateway/transcode/transcoder.h: the depth limit, the strict JSON pass, the type walk,
// update_mask, the path-versus-body check, then protobuf's strict JSON parser).
//
// Every route of the real route table that takes a body is fuzzed. The input's first line picks
// the route: "METHOD TEMPLATE" as in the protos ("PATCH /api/thoughts/{id}") names it, any other
// line picks one by the sum of its bytes (so every mutation still reaches a route); the rest of
// the input is the body. Every path variable is bound to "7".
//
// Properties checked on every input:
//  - BuildRequest never crashes; a refusal is INVALID_ARGUMENT with a message;
//  - a body starting with a byte-order mark is never accepted;
//  - an accepted request is the route's request type, every path variable holds "7", and every
//    string in it (map keys and free-form JSON included) is valid UTF-8 without NUL;
//  - round trip: the accepted request printed with protobuf's JSON mapping, sent again as the
//    body to the same route, is accepted and builds the same request.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/util/field_comparator.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "libs/core/utf8.h"
#include "libs/rpc/method_access.h"
#include "services/gateway/transcode/path_template.h"
#include "services/gateway/transcode/route_table.h"
#include "services/gateway/transcode/transcoder.h"

namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using spine::gateway::PathBindings;
using spine::gateway::Route;

// The value of every path variable: a valid integer id and a valid name alike.
constexpr absl::string_view kPathValue = "7";

void Fail(const char* what) {
  std::fprintf(stderr, "json_body_fuzz: %s\n", what);
  std::abort();
}

struct BodyRoute {
  const Route* route;
  std::string line;  // "METHOD TEMPLATE"
  PathBindings bindings;
};

const std::vector<BodyRoute>& BodyRoutes() {
  static const spine::gateway::RouteTable table = [] {
    absl::StatusOr<spine::gateway::RouteTable> built =
        spine::gateway::RouteTable::Build(spine::rpc::SpineApiFiles());
    if (!built.ok()) Fail("the route table does not build");
    return *std::move(built);
  }();
  static const std::vector<BodyRoute> routes = [] {
    std::vector<BodyRoute> out;
    for (const Route& route : table.routes()) {
      if (route.body.empty()) continue;
      BodyRoute body_route{&route, route.http_method + " " + route.path.text(), {}};
      for (const std::string& variable : route.path.Variables()) {
        body_route.bindings.emplace_back(variable, std::string(kPathValue));
      }
      out.push_back(std::move(body_route));
    }
    if (out.empty()) Fail("no route takes a body");
    return out;
  }();
  return routes;
}

const BodyRoute& PickRoute(absl::string_view line) {
  const std::vector<BodyRoute>& routes = BodyRoutes();
  size_t sum = 0;
  for (const BodyRoute& route : routes) {
    if (route.line == line) return route;
  }
  for (const char c : line) sum += static_cast<uint8_t>(c);
  return routes[sum % routes.size()];
}

void CheckText(const std::string& text) {
  if (!spine::CheckUtf8(text).valid) Fail("a string of the request is not valid UTF-8");
  if (absl::StrContains(text, '\0')) Fail("a string of the request holds a NUL");
}

// Every string field of `message` and of the messages in it, map entries included.
void CheckStrings(const Message& message) {
  const Reflection* reflection = message.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const FieldDescriptor* field : fields) {
    if (field->type() == FieldDescriptor::TYPE_STRING) {
      if (field->is_repeated()) {
        for (int i = 0; i < reflection->FieldSize(message, field); ++i) {
          CheckText(reflection->GetRepeatedString(message, field, i));
        }
      } else {
        CheckText(reflection->GetString(message, field));
      }
    } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      if (field->is_repeated()) {
        for (int i = 0; i < reflection->FieldSize(message, field); ++i) {
          CheckStrings(reflection->GetRepeatedMessage(message, field, i));
        }
      } else {
        CheckStrings(reflection->GetMessage(message, field));
      }
    }
  }
}

void CheckPathValues(const BodyRoute& route, const Message& request) {
  const google::protobuf::Descriptor* input = route.route->method->input_type();
  const Reflection* reflection = request.GetReflection();
  for (const auto& [variable, value] : route.bindings) {
    const FieldDescriptor* field = spine::gateway::FindFieldPath(input, variable);
    if (field == nullptr || field->containing_type() != input) continue;
    bool same = true;
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT64:
        same = std::to_string(reflection->GetInt64(request, field)) == value;
        break;
      case FieldDescriptor::CPPTYPE_INT32:
        same = std::to_string(reflection->GetInt32(request, field)) == value;
        break;
      case FieldDescriptor::CPPTYPE_STRING:
        same = reflection->GetString(request, field) == value;
        break;
      default:
        break;
    }
    if (!same) Fail("a path variable does not hold its path value");
  }
}

using Built = absl::StatusOr<std::unique_ptr<Message>>;

Built Build(const BodyRoute& route, absl::string_view body) {
  Built request = spine::gateway::BuildRequest(*route.route, route.bindings, {}, body);
  if (!request.ok()) {
    if (request.status().code() != absl::StatusCode::kInvalidArgument ||
        request.status().message().empty()) {
      Fail("a refusal is not INVALID_ARGUMENT with a message");
    }
    return request;
  }
  if (*request == nullptr) Fail("BuildRequest returned a null message");
  if ((*request)->GetDescriptor() != route.route->method->input_type()) {
    Fail("BuildRequest built the wrong message type");
  }
  return request;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t newline = input.find('\n');
  const absl::string_view line = input.substr(0, newline);
  const absl::string_view body =
      newline == absl::string_view::npos ? absl::string_view() : input.substr(newline + 1);
  const BodyRoute& route = PickRoute(line);

  const Built request = Build(route, body);
  if (!request.ok()) return 0;
  if (absl::StartsWith(body, "\xEF\xBB\xBF")) Fail("accepted a body with a byte-order mark");
  CheckPathValues(route, **request);
  CheckStrings(**request);

  std::string printed;
  if (!google::protobuf::util::MessageToJsonString(**request, &printed).ok()) {
    Fail("an accepted request does not print as JSON");
  }
  const Built again = Build(route, printed);
  if (!again.ok()) {
    std::fprintf(stderr, "json_body_fuzz: %s refused %s: %s\n", route.line.c_str(), printed.c_str(),
                 std::string(again.status().message()).c_str());
    Fail("an accepted request, printed and sent again, is refused");
  }
  // "NaN" is a valid double in the JSON mapping, and prints as "NaN" again.
  google::protobuf::util::DefaultFieldComparator comparator;
  comparator.set_treat_nan_as_equal(true);
  google::protobuf::util::MessageDifferencer differencer;
  differencer.set_field_comparator(&comparator);
  if (!differencer.Compare(**again, **request)) {
    Fail("an accepted request, printed and sent again, builds another request");
  }
  return 0;
}
