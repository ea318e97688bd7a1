#include "services/gateway/http/cors_policy.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "services/gateway/http/error_response.h"

namespace spine::gateway {
namespace {

// What the API's routes take: the transcoder's methods, and the headers a client sends.
constexpr char kAllowMethods[] = "GET, HEAD, POST, PUT, PATCH, DELETE";
constexpr char kAllowHeaders[] = "Authorization, Content-Type, Idempotency-Key, X-Request-Id";
// What a script may read besides the CORS-safelisted headers.
constexpr char kExposeHeaders[] =
    "X-Request-Id, Location, Retry-After, RateLimit, RateLimit-Policy, WWW-Authenticate";
// Browsers cap this (Chrome at 2 h); 10 min keeps a changed allow-list from lingering long.
constexpr char kMaxAgeSeconds[] = "600";

bool IsOrigin(absl::string_view origin) {
  absl::string_view rest = origin;
  if (!absl::ConsumePrefix(&rest, "https://") && !absl::ConsumePrefix(&rest, "http://")) {
    return false;
  }
  if (rest.empty()) return false;
  return std::all_of(rest.begin(), rest.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' ||
           c == '[' || c == ']';
  });
}

}  // namespace

absl::StatusOr<CorsPolicy> CorsPolicy::Parse(absl::string_view list) {
  std::vector<std::string> origins;
  for (absl::string_view item : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
    item = absl::StripAsciiWhitespace(item);
    if (!IsOrigin(item)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", item.substr(0, 100), "' is not an origin (scheme://host[:port], http or https)"));
    }
    origins.emplace_back(absl::AsciiStrToLower(item));
  }
  return CorsPolicy(std::move(origins));
}

bool CorsPolicy::Allows(absl::string_view origin) const {
  return std::find(origins_.begin(), origins_.end(), origin) != origins_.end();
}

std::optional<HttpResponse> CorsPolicy::Preflight(const HttpRequest& request) const {
  if (request.method != "OPTIONS") return std::nullopt;
  const std::optional<std::string> origin = request.Header("Origin");
  if (!origin || !request.Header("Access-Control-Request-Method")) return std::nullopt;
  if (!Allows(*origin)) {
    HttpResponse refused = MakeErrorResponse(
        absl::StatusCode::kPermissionDenied,
        absl::StrCat("origin '", origin->substr(0, 100), "' is not in SPINE_CORS_ORIGINS"),
        "CORS_ORIGIN_NOT_ALLOWED");
    refused.headers.emplace_back("Vary", "Origin");
    return refused;
  }
  HttpResponse response;
  response.status = 204;
  response.headers = {{"Access-Control-Allow-Origin", *origin},
                      {"Access-Control-Allow-Methods", kAllowMethods},
                      {"Access-Control-Allow-Headers", kAllowHeaders},
                      {"Access-Control-Max-Age", kMaxAgeSeconds},
                      {"Vary", "Origin"},
                      {"Cache-Control", "no-store"}};
  return response;
}

void CorsPolicy::Decorate(const HttpRequest& request, HttpResponse& response) const {
  if (origins_.empty()) return;
  for (const auto& [name, value] : response.headers) {
    if (name == "Vary" && value == "Origin") return;  // a preflight's answer, already complete
  }
  // Every answer may differ by Origin once any origin is allowed: caches must key on it.
  response.headers.emplace_back("Vary", "Origin");
  const std::optional<std::string> origin = request.Header("Origin");
  if (!origin || !Allows(*origin)) return;
  response.headers.emplace_back("Access-Control-Allow-Origin", *origin);
  response.headers.emplace_back("Access-Control-Expose-Headers", kExposeHeaders);
}

}  // namespace spine::gateway
