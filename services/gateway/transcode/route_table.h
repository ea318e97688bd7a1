// RouteTable: the gateway's HTTP routes, read at start from the standard `(google.api.http)`
// options on the RPCs of the given proto files, with Spine's `(spine.api.route)` for success
// codes and deadlines — never from a hand-written list.
//
// Each route maps (HTTP method, path template) to one gRPC method, says where the JSON body
// goes ("*", a field, or nowhere), the success status, and which service answers it. Literal
// segments win over variables ("/api/plugins/list" before "/api/plugins/{name}"). Immutable
// after Build, so thread-safe.
#pragma once

#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/api/annotations.pb.h"
#include "google/protobuf/descriptor.h"
#include "services/gateway/transcode/path_template.h"
#include "spine/api/http.pb.h"

namespace spine::gateway {

struct Route {
  std::string http_method{};  // "GET", "POST", ...
  PathTemplate path;
  // The template as clients see it, each variable by its JSON name like every other name
  // ("/api/pipelines/{pipelineId}/runs"): in the OpenAPI document, the metrics and the logs.
  std::string public_path{};
  std::string body{};  // "*", a top-level field name, or "" (no body)
  int success_code = 200;
  const google::protobuf::MethodDescriptor* method = nullptr;
  // The service that answers: "storage", "llm", "plugins", "tasks", or "gateway" (auth).
  std::string upstream{};
  spine::api::Access access = spine::api::ACCESS_AUTHENTICATED;
  // How long to wait for the RPC when the request sets no time of its own; zero: the default.
  absl::Duration deadline = absl::ZeroDuration();
  // The request's own time limit in milliseconds (an int32 field), or null.
  const google::protobuf::FieldDescriptor* deadline_field = nullptr;

  // "/spine.v1.ThoughtService/GetThought", the gRPC path of `method`.
  std::string GrpcPath() const;
};

struct RouteMatch {
  const Route* route = nullptr;
  PathBindings bindings{};
};

// The path exists, but not for this method: the methods it does allow, for `Allow`.
struct MethodNotAllowed {
  std::vector<std::string> allowed{};
};

struct NoRoute {};

class RouteTable {
 public:
  // Routes of every RPC with a `(google.api.http)` option in `files`, its additional_bindings
  // included. INVALID_ARGUMENT naming the RPC for a malformed template, an unknown method, a path
  // variable or body field that is not a field of the request, a response_body, a streaming
  // client, or two routes with the same method and template.
  static absl::StatusOr<RouteTable> Build(
      const std::vector<const google::protobuf::FileDescriptor*>& files);

  // HEAD matches GET routes. `segments` from SplitPath.
  std::variant<RouteMatch, MethodNotAllowed, NoRoute> Match(
      absl::string_view http_method, const std::vector<std::string>& segments) const;

  const std::vector<Route>& routes() const { return routes_; }

  // The route with this method and exact template text, or null (e.g. Location: the GET route
  // of a created resource).
  const Route* Find(absl::string_view http_method, absl::string_view path_template) const;

 private:
  explicit RouteTable(std::vector<Route> routes) : routes_(std::move(routes)) {}
  std::vector<Route> routes_;  // in match order
};

// The service name that answers the RPCs of proto file `file_name` ("spine/v1/storage.proto" →
// "storage"; auth.proto → "gateway").
std::string UpstreamOf(absl::string_view file_name);

// The field at dotted `path` ("a.b") in `message`, or null.
const google::protobuf::FieldDescriptor* FindFieldPath(const google::protobuf::Descriptor* message,
                                                       absl::string_view path);
// The dotted `path` of proto field names in `message` by JSON names ("pipeline_id" →
// "pipelineId"); `path` itself when it names no field.
std::string JsonFieldPath(const google::protobuf::Descriptor* message, absl::string_view path);

}  // namespace spine::gateway
