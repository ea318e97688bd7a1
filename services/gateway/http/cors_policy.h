// CorsPolicy: which browser origins may call the API from another site (SPINE_CORS_ORIGINS).
//
// An allow-list of exact origins ("https://app.example.com", "http://localhost:5173"), empty by
// default: then no response carries CORS headers and browsers keep other sites' pages out, as
// before. A request from a listed origin gets Access-Control-Allow-Origin naming it; a preflight
// (OPTIONS with Origin and Access-Control-Request-Method) from a listed origin is answered 204
// with the methods and headers the API takes; from any other origin it is 403 without CORS
// headers. Immutable after Parse, so thread-safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "services/gateway/http/http_message.h"

namespace spine::gateway {

class CorsPolicy {
 public:
  CorsPolicy() = default;  // no origin allowed

  // A comma-separated list of origins, each scheme://host[:port] with scheme http or https and
  // nothing after the authority; spaces around items are ignored. INVALID_ARGUMENT naming the
  // first bad item ("*" included: a wildcard would hand every site the API).
  static absl::StatusOr<CorsPolicy> Parse(absl::string_view list);

  bool empty() const { return origins_.empty(); }
  // Whether `origin` is listed (exact, case-sensitive as browsers send it lower-cased).
  bool Allows(absl::string_view origin) const;

  // The answer to `request` when it is a CORS preflight; nullopt for any other request.
  std::optional<HttpResponse> Preflight(const HttpRequest& request) const;
  // Adds the CORS headers to `response` when `request` comes from a listed origin.
  void Decorate(const HttpRequest& request, HttpResponse& response) const;

 private:
  explicit CorsPolicy(std::vector<std::string> origins) : origins_(std::move(origins)) {}

  std::vector<std::string> origins_;
};

}  // namespace spine::gateway
