#include "services/llm/backends/http_error_status.h"

#include <cstddef>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "libs/core/log.h"
#include "libs/rpc/error_info.h"
#include "nlohmann/json.hpp"

namespace spine::llm {
namespace {

constexpr size_t kMaxMessageBytes = 300;

std::string Truncated(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  if (text.size() <= kMaxMessageBytes) return std::string(text);
  return absl::StrCat(text.substr(0, kMaxMessageBytes), "...");
}

// The string at `key` in `object`, or null.
const nlohmann::json* StringField(const nlohmann::json& object, const char* key) {
  const auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return nullptr;
  return &*it;
}

}  // namespace

absl::Status StatusForHttpError(absl::string_view backend, int http_status,
                                absl::string_view message) {
  const std::string text =
      absl::StrCat(backend, ": HTTP ", http_status, message.empty() ? "" : ": ", message);
  switch (http_status) {
    case 404:
      return rpc::WithErrorInfo(absl::NotFoundError(text), "BACKEND_MODEL_NOT_FOUND");
    case 408:
    case 429:
    case 502:
    case 503:
    case 504:
      return rpc::WithErrorInfo(absl::UnavailableError(text), "BACKEND_UNAVAILABLE");
    case 401:
    case 403:
      return rpc::WithErrorInfo(absl::UnavailableError(text), "BACKEND_AUTH_FAILED");
    case 400:
    case 422:
      return rpc::WithErrorInfo(absl::InvalidArgumentError(text), "BACKEND_REJECTED_REQUEST");
    default:
      return rpc::WithErrorInfo(absl::InternalError(text), "BACKEND_ERROR");
  }
}

std::string ErrorMessageFromBody(absl::string_view body) {
  const nlohmann::json json = nlohmann::json::parse(body.begin(), body.end(), nullptr,
                                                    /*allow_exceptions=*/false);
  if (json.is_object()) {
    if (const auto error = json.find("error"); error != json.end()) {
      if (error->is_string()) return Truncated(error->get_ref<const std::string&>());
      if (error->is_object()) {
        if (const nlohmann::json* message = StringField(*error, "message")) {
          return Truncated(message->get_ref<const std::string&>());
        }
      }
    }
    for (const char* key : {"message", "detail"}) {
      if (const nlohmann::json* message = StringField(json, key)) {
        return Truncated(message->get_ref<const std::string&>());
      }
    }
  }
  return Truncated(body);
}

absl::Status StatusForStreamError(absl::string_view backend, absl::string_view message) {
  const std::string text = absl::StrCat(backend, ": ", Truncated(message));
  const std::string lower = absl::AsciiStrToLower(message);
  if (absl::StrContains(lower, "not found") || absl::StrContains(lower, "does not exist")) {
    return rpc::WithErrorInfo(absl::NotFoundError(text), "BACKEND_MODEL_NOT_FOUND");
  }
  return rpc::WithErrorInfo(absl::UnavailableError(text), "BACKEND_UNAVAILABLE");
}

absl::Status StatusForTransportError(absl::string_view backend, const absl::Status& transport) {
  switch (transport.code()) {
    case absl::StatusCode::kCancelled:
      return transport;
    case absl::StatusCode::kDeadlineExceeded:
      return absl::DeadlineExceededError(
          absl::StrCat(backend, ": the model did not finish before the deadline"));
    default:
      log::Warn("model backend unreachable",
                {{"backend", std::string(backend)}, {"error", std::string(transport.message())}});
      return rpc::WithErrorInfo(
          absl::UnavailableError(absl::StrCat(backend, ": the model server is not reachable")),
          "BACKEND_UNAVAILABLE");
  }
}

absl::Status StatusForBadResponse(absl::string_view backend, absl::string_view what) {
  return rpc::WithErrorInfo(absl::InternalError(absl::StrCat(backend, ": ", what)),
                            "BACKEND_BAD_RESPONSE");
}

}  // namespace spine::llm
