#include "services/gateway/http/error_response.h"

#include <string>

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

HttpResponse MakeErrorResponse(absl::StatusCode code, absl::string_view message,
                               absl::string_view reason) {
  return MakeErrorResponse(HttpStatusFor(code), code, message, reason);
}

HttpResponse MakeErrorResponse(int http_status, absl::StatusCode code, absl::string_view message,
                               absl::string_view reason) {
  nlohmann::ordered_json info;
  info["@type"] = "type.googleapis.com/google.rpc.ErrorInfo";
  info["reason"] = std::string(reason);
  info["domain"] = "spine";
  info["metadata"] = nlohmann::json::object();
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

}  // namespace spine::gateway
