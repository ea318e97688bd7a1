#include "services/gateway/transcode/route_table.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace spine::gateway {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::MethodDescriptor;

constexpr absl::string_view kMethods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};

// The HTTP method and path of one binding; a custom verb ("HEAD", "OPTIONS", ...) keeps its kind.
std::pair<std::string, std::string> MethodAndPath(const google::api::HttpRule& rule) {
  switch (rule.pattern_case()) {
    case google::api::HttpRule::kGet:
      return {"GET", rule.get()};
    case google::api::HttpRule::kPut:
      return {"PUT", rule.put()};
    case google::api::HttpRule::kPost:
      return {"POST", rule.post()};
    case google::api::HttpRule::kDelete:
      return {"DELETE", rule.delete_()};
    case google::api::HttpRule::kPatch:
      return {"PATCH", rule.patch()};
    case google::api::HttpRule::kCustom:
      return {rule.custom().kind(), rule.custom().path()};
    case google::api::HttpRule::PATTERN_NOT_SET:
      break;
  }
  return {"", ""};
}

absl::StatusOr<Route> MakeRoute(const MethodDescriptor* method, const google::api::HttpRule& rule,
                                const spine::api::HttpRouteOptions& options,
                                spine::api::Access access) {
  auto [http_method, path_text] = MethodAndPath(rule);
  const std::string where =
      absl::StrCat(method->full_name(), " (", http_method, " ", path_text, "): ");
  if (std::find(std::begin(kMethods), std::end(kMethods), http_method) == std::end(kMethods)) {
    return absl::InvalidArgumentError(absl::StrCat(where, "unknown HTTP method"));
  }
  if (!rule.response_body().empty()) {
    // The gateway always answers with the whole response message (or a download for HttpBody).
    return absl::InvalidArgumentError(absl::StrCat(where, "response_body is not supported"));
  }
  if (method->client_streaming()) {
    return absl::InvalidArgumentError(absl::StrCat(where, "client streaming cannot be mapped"));
  }
  absl::StatusOr<PathTemplate> path = PathTemplate::Parse(path_text);
  if (!path.ok()) return absl::InvalidArgumentError(absl::StrCat(where, path.status().message()));
  for (const std::string& variable : path->Variables()) {
    const FieldDescriptor* field = FindFieldPath(method->input_type(), variable);
    if (field == nullptr || field->is_repeated() ||
        field->type() == FieldDescriptor::TYPE_MESSAGE) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "path variable '", variable, "' is not a scalar request field"));
    }
  }
  if (!rule.body().empty() && rule.body() != "*" &&
      method->input_type()->FindFieldByName(rule.body()) == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, "body '", rule.body(), "' is not a request field"));
  }
  const int code = options.success_code() == 0 ? 200 : options.success_code();
  if (code < 200 || code > 299) {
    return absl::InvalidArgumentError(absl::StrCat(where, "success_code must be 2xx"));
  }
  if (options.deadline_ms() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(where, "deadline_ms must not be negative"));
  }
  const FieldDescriptor* deadline_field = nullptr;
  if (!options.deadline_field().empty()) {
    deadline_field = method->input_type()->FindFieldByName(options.deadline_field());
    if (deadline_field == nullptr || deadline_field->is_repeated() ||
        deadline_field->cpp_type() != FieldDescriptor::CPPTYPE_INT32) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, "deadline_field '", options.deadline_field(), "' is not an int32 request field"));
    }
  }
  std::string public_path = path->text();
  for (const std::string& variable : path->Variables()) {
    public_path = absl::StrReplaceAll(
        public_path, {{absl::StrCat("{", variable, "}"),
                       absl::StrCat("{", JsonFieldPath(method->input_type(), variable), "}")}});
  }
  return Route{.http_method = std::move(http_method),
               .path = *std::move(path),
               .public_path = std::move(public_path),
               .body = rule.body(),
               .success_code = code,
               .method = method,
               .upstream = UpstreamOf(method->file()->name()),
               .access = access,
               .deadline = absl::Milliseconds(options.deadline_ms()),
               .deadline_field = deadline_field};
}

// Literal segments sort before variables at the first difference, so the more specific route
// is tried first; otherwise the order of the protos is kept (stable sort).
bool MoreSpecific(const Route& a, const Route& b) {
  const std::vector<std::string> va = absl::StrSplit(a.path.text(), '/');
  const std::vector<std::string> vb = absl::StrSplit(b.path.text(), '/');
  for (size_t i = 0; i < std::min(va.size(), vb.size()); ++i) {
    const bool a_var = absl::StartsWith(va[i], "{");
    const bool b_var = absl::StartsWith(vb[i], "{");
    if (a_var != b_var) return !a_var;
  }
  return false;
}

}  // namespace

std::string Route::GrpcPath() const {
  return absl::StrCat("/", method->service()->full_name(), "/", method->name());
}

std::string UpstreamOf(absl::string_view file_name) {
  absl::string_view stem = file_name;
  stem = stem.substr(stem.rfind('/') + 1);
  absl::ConsumeSuffix(&stem, ".proto");
  if (stem == "auth") return "gateway";
  return std::string(stem);
}

const FieldDescriptor* FindFieldPath(const Descriptor* message, absl::string_view path) {
  const FieldDescriptor* field = nullptr;
  for (absl::string_view part : absl::StrSplit(path, '.')) {
    if (message == nullptr) return nullptr;
    field = message->FindFieldByName(std::string(part));
    if (field == nullptr) return nullptr;
    message = field->type() == FieldDescriptor::TYPE_MESSAGE ? field->message_type() : nullptr;
  }
  return field;
}

std::string JsonFieldPath(const Descriptor* message, absl::string_view path) {
  std::vector<std::string> names;
  for (absl::string_view part : absl::StrSplit(path, '.')) {
    const FieldDescriptor* field =
        message == nullptr ? nullptr : message->FindFieldByName(std::string(part));
    if (field == nullptr) return std::string(path);
    names.push_back(field->json_name());
    message = field->type() == FieldDescriptor::TYPE_MESSAGE ? field->message_type() : nullptr;
  }
  return absl::StrJoin(names, ".");
}

absl::StatusOr<RouteTable> RouteTable::Build(
    const std::vector<const google::protobuf::FileDescriptor*>& files) {
  std::vector<Route> routes;
  for (const google::protobuf::FileDescriptor* file : files) {
    for (int s = 0; s < file->service_count(); ++s) {
      const google::protobuf::ServiceDescriptor* service = file->service(s);
      const spine::api::Access default_access =
          service->options().GetExtension(spine::api::default_access);
      for (int m = 0; m < service->method_count(); ++m) {
        const MethodDescriptor* method = service->method(m);
        if (!method->options().HasExtension(google::api::http)) continue;
        const google::api::HttpRule& rule = method->options().GetExtension(google::api::http);
        const spine::api::HttpRouteOptions& options =
            method->options().GetExtension(spine::api::route);
        const spine::api::Access access = method->options().HasExtension(spine::api::access)
                                              ? method->options().GetExtension(spine::api::access)
                                              : default_access;
        // As in google/api/http.proto, a binding's own additional_bindings are not followed.
        std::vector<const google::api::HttpRule*> rules = {&rule};
        for (const google::api::HttpRule& extra : rule.additional_bindings()) {
          rules.push_back(&extra);
        }
        for (const google::api::HttpRule* one : rules) {
          absl::StatusOr<Route> route = MakeRoute(method, *one, options, access);
          if (!route.ok()) return route.status();
          for (const Route& existing : routes) {
            if (existing.http_method == route->http_method &&
                existing.path.text() == route->path.text()) {
              return absl::InvalidArgumentError(absl::StrCat(
                  method->full_name(), ": ", route->http_method, " ", route->path.text(),
                  " is already mapped to ", existing.method->full_name()));
            }
          }
          routes.push_back(*std::move(route));
        }
      }
    }
  }
  std::stable_sort(routes.begin(), routes.end(), MoreSpecific);
  return RouteTable(std::move(routes));
}

std::variant<RouteMatch, MethodNotAllowed, NoRoute> RouteTable::Match(
    absl::string_view http_method, const std::vector<std::string>& segments) const {
  const absl::string_view wanted = http_method == "HEAD" ? "GET" : http_method;
  MethodNotAllowed not_allowed;
  for (const Route& route : routes_) {
    std::optional<PathBindings> bindings = route.path.Match(segments);
    if (!bindings) continue;
    if (route.http_method == wanted) return RouteMatch{&route, *std::move(bindings)};
    if (std::find(not_allowed.allowed.begin(), not_allowed.allowed.end(), route.http_method) ==
        not_allowed.allowed.end()) {
      not_allowed.allowed.push_back(route.http_method);
    }
  }
  if (not_allowed.allowed.empty()) return NoRoute{};
  return not_allowed;
}

const Route* RouteTable::Find(absl::string_view http_method,
                              absl::string_view path_template) const {
  for (const Route& route : routes_) {
    if (route.http_method == http_method && route.path.text() == path_template) return &route;
  }
  return nullptr;
}

}  // namespace spine::gateway
