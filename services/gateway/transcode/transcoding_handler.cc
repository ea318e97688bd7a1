#include "services/gateway/transcode/transcoding_handler.h"

#include <variant>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libs/rpc/error_info.h"
#include "services/gateway/http/error_response.h"
#include "services/gateway/transcode/transcoder.h"

namespace spine::gateway {
namespace {

HttpResponse BadRequest(const absl::Status& status) {
  return MakeErrorResponse(absl::StatusCode::kInvalidArgument, status.message(),
                           "INVALID_ARGUMENT");
}

// application/json, with any parameters (charset=utf-8).
bool IsJson(const HttpRequest& request) {
  const std::optional<std::string> type = request.Header("Content-Type");
  if (!type) return false;
  const absl::string_view media = absl::StripAsciiWhitespace(
      absl::string_view(*type).substr(0, absl::string_view(*type).find(';')));
  return absl::EqualsIgnoreCase(media, "application/json");
}

// The answer for an upstream failure. Transport failures (the service is down or slow) get the
// gateway's own words: gRPC's message would name internal addresses.
HttpResponse UpstreamError(const Route& route, const absl::Status& status,
                           absl::Duration deadline) {
  // A service that says it is unavailable (and why) is passed through like any other answer.
  if (rpc::GetErrorInfo(status).has_value()) {
    HttpResponse response = MakeErrorResponse(status, "");
    if (status.code() == absl::StatusCode::kUnavailable) {
      response.headers.emplace_back("Retry-After", "1");
    }
    return response;
  }
  switch (status.code()) {
    case absl::StatusCode::kUnavailable: {
      HttpResponse response = MakeErrorResponse(
          absl::StatusCode::kUnavailable,
          absl::StrCat(route.upstream, " is unavailable; retry shortly"), "UPSTREAM_UNAVAILABLE");
      response.headers.emplace_back("Retry-After", "1");
      return response;
    }
    case absl::StatusCode::kDeadlineExceeded:
      return MakeErrorResponse(
          absl::StatusCode::kDeadlineExceeded,
          absl::StrCat(route.upstream, " did not answer within ", absl::FormatDuration(deadline)),
          "UPSTREAM_TIMEOUT");
    default:
      // The service's own words and ErrorInfo reason; the code's name when it gave none.
      return MakeErrorResponse(status, absl::StatusCodeToString(status.code()));
  }
}

// `Location` of a created resource: the GET route whose template is this one plus "/{id}".
std::optional<std::string> LocationOf(const RouteTable& routes, const Route& route,
                                      const google::protobuf::Message& response) {
  const google::protobuf::FieldDescriptor* id = response.GetDescriptor()->FindFieldByName("id");
  if (id == nullptr || id->is_repeated()) return std::nullopt;
  const Route* get = routes.Find("GET", absl::StrCat(route.path.text(), "/{id}"));
  if (get == nullptr) return std::nullopt;
  const google::protobuf::Reflection* reflection = response.GetReflection();
  std::string value;
  switch (id->cpp_type()) {
    case google::protobuf::FieldDescriptor::CPPTYPE_INT64:
      value = absl::StrCat(reflection->GetInt64(response, id));
      break;
    case google::protobuf::FieldDescriptor::CPPTYPE_STRING:
      value = reflection->GetString(response, id);
      break;
    default:
      return std::nullopt;
  }
  // Path variables fill whole segments; values with a '/' or '%' cannot be expressed plainly.
  if (value.empty() || absl::StrContains(value, '/') || absl::StrContains(value, '%')) {
    return std::nullopt;
  }
  return get->path.Expand({value});
}

}  // namespace

std::string TranscodingHandler::RouteLabel(const HttpRequest& request) const {
  absl::StatusOr<std::vector<std::string>> segments = SplitPath(request.path);
  if (!segments.ok()) return "";
  auto match = routes_.Match(request.method, *segments);
  if (const auto* found = std::get_if<RouteMatch>(&match)) return found->route->path.text();
  return "";
}

void TranscodingHandler::Handle(HttpRequest request, HttpReply reply) {
  absl::StatusOr<std::vector<std::string>> segments = SplitPath(request.path);
  if (!segments.ok()) return reply(BadRequest(segments.status()));
  auto match = routes_.Match(request.method, *segments);
  if (std::holds_alternative<NoRoute>(match)) {
    return reply(MakeErrorResponse(absl::StatusCode::kNotFound,
                                   absl::StrCat("no route for ", request.path), "ROUTE_NOT_FOUND"));
  }
  if (const auto* not_allowed = std::get_if<MethodNotAllowed>(&match)) {
    std::vector<std::string> allowed = not_allowed->allowed;
    if (absl::c_linear_search(allowed, "GET")) allowed.emplace_back("HEAD");
    HttpResponse response = MakeErrorResponse(
        405, absl::StatusCode::kUnimplemented,
        absl::StrCat("method ", request.method, " is not allowed on ", request.path),
        "METHOD_NOT_ALLOWED");
    response.headers.emplace_back("Allow", absl::StrJoin(allowed, ", "));
    return reply(std::move(response));
  }
  const RouteMatch& found = std::get<RouteMatch>(match);
  const Route& route = *found.route;

  if (!request.body.empty() && !route.body.empty() && !IsJson(request)) {
    return reply(MakeErrorResponse(415, absl::StatusCode::kInvalidArgument,
                                   "Content-Type must be application/json",
                                   "UNSUPPORTED_MEDIA_TYPE"));
  }
  if (!request.body.empty() && route.body.empty()) {
    return reply(BadRequest(absl::InvalidArgumentError("body: this route takes no body")));
  }
  absl::StatusOr<QueryParams> query = ParseQueryString(request.query);
  if (!query.ok()) return reply(BadRequest(query.status()));
  absl::StatusOr<std::unique_ptr<google::protobuf::Message>> rpc_request =
      BuildRequest(route, found.bindings, *query, request.body);
  if (!rpc_request.ok()) return reply(BadRequest(rpc_request.status()));

  UpstreamMetadata metadata{.authorization = request.Header("Authorization").value_or(""),
                            .request_id = request.request_id};
  upstream_.Call(route, **rpc_request, metadata,
                 [this, &route, reply = std::move(reply)](
                     absl::StatusOr<std::unique_ptr<google::protobuf::Message>> result) {
                   if (!result.ok()) {
                     if (metrics_ != nullptr) {
                       metrics_->RecordUpstreamError(route.upstream, result.status().code());
                     }
                     return reply(UpstreamError(route, result.status(), upstream_deadline_));
                   }
                   HttpResponse response;
                   response.status = route.success_code;
                   if (route.success_code != 204) {
                     absl::StatusOr<std::string> body = RenderResponse(**result);
                     if (!body.ok()) {
                       return reply(MakeErrorResponse(absl::StatusCode::kInternal,
                                                      body.status().message(), "INTERNAL"));
                     }
                     response.headers.emplace_back("Content-Type", "application/json");
                     response.body = *std::move(body);
                   }
                   response.headers.emplace_back("Cache-Control", "no-store");
                   if (route.success_code == 201) {
                     if (auto location = LocationOf(routes_, route, **result)) {
                       response.headers.emplace_back("Location", *std::move(location));
                     }
                   }
                   reply(std::move(response));
                 });
}

}  // namespace spine::gateway
