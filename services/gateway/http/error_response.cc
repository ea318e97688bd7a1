#include "services/gateway/http/error_response.h"

#include <map>
#include <optional>
#include <string>

#include "google/rpc/error_details.pb.h"
#include "libs/rpc/error_info.h"
#include "nlohmann/json.hpp"

namespace spine::gateway {

int HttpStatusFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
      return 409;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kCancelled:
      return 499;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kDataLoss:
    default:
      return 500;
  }
}

namespace {

HttpResponse BuildErrorResponse(int http_status, absl::StatusCode code, absl::string_view message,
                                absl::string_view reason,
                                const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json info;
  info["@type"] = "type.googleapis.com/google.rpc.ErrorInfo";
  info["reason"] = std::string(reason);
  info["domain"] = "spine";
  info["metadata"] = nlohmann::ordered_json::object();
  for (const auto& [key, value] : metadata) info["metadata"][key] = value;
  nlohmann::ordered_json error;
  error["code"] = http_status;
  error["status"] = absl::StatusCodeToString(code);
  error["message"] = std::string(message);
  error["details"] = nlohmann::ordered_json::array({info});
  nlohmann::ordered_json body;
  body["error"] = std::move(error);

  HttpResponse response;
  response.status = http_status;
  response.headers.emplace_back("Content-Type", "application/json");
  if (code == absl::StatusCode::kUnauthenticated) {
    response.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"spine\"");
  }
  response.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return response;
}

}  // namespace

HttpResponse MakeErrorResponse(absl::StatusCode code, absl::string_view message,
                               absl::string_view reason) {
  return MakeErrorResponse(HttpStatusFor(code), code, message, reason);
}

HttpResponse MakeErrorResponse(int http_status, absl::StatusCode code, absl::string_view message,
                               absl::string_view reason) {
  return BuildErrorResponse(http_status, code, message, reason, {});
}

int HttpStatusFor(absl::StatusCode code, absl::string_view reason) {
  // API.md's one exception: a plugin's own failure is 502 at the edge, whatever gRPC code says
  // what kind of failure it was (INTERNAL, PERMISSION_DENIED for the sandbox; UNKNOWN from
  // services of before).
  const bool plugin_failure = reason == "PLUGIN_ERROR" || reason == "PLUGIN_CRASHED" ||
                              reason == "PLUGIN_BAD_OUTPUT" || reason == "SANDBOX_VIOLATION";
  if (plugin_failure &&
      (code == absl::StatusCode::kUnknown || code == absl::StatusCode::kInternal ||
       code == absl::StatusCode::kPermissionDenied)) {
    return 502;
  }
  // RFC 9110's 422: the request is well-formed, but its idempotency key belongs to another.
  if (code == absl::StatusCode::kInvalidArgument && reason == "IDEMPOTENCY_KEY_REUSED") return 422;
  return HttpStatusFor(code);
}

HttpResponse MakeErrorResponse(const absl::Status& status, absl::string_view default_reason) {
  const absl::StatusCode code = status.ok() ? absl::StatusCode::kUnknown : status.code();
  const std::optional<google::rpc::ErrorInfo> info = rpc::GetErrorInfo(status);
  if (!info || info->reason().empty()) {
    return BuildErrorResponse(HttpStatusFor(code), code, status.message(), default_reason, {});
  }
  // std::map, so the metadata keys come out in one order whatever the proto map's order is.
  const std::map<std::string, std::string> metadata(info->metadata().begin(),
                                                    info->metadata().end());
  return BuildErrorResponse(HttpStatusFor(code, info->reason()), code, status.message(),
                            info->reason(), metadata);
}

}  // namespace spine::gateway
