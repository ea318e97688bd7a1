// HttpRequest / HttpResponse: the gateway's own view of an HTTP exchange, free of Beast types so
// routing logic can be tested without sockets.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace spine::gateway {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // without the query string
  std::string query;   // after '?', undecoded
  HttpHeaders headers;
  std::string body;
  std::string peer_ip;
  std::string request_id;  // assigned by the server before the handler runs

  // The first header named `name` (case-insensitive).
  std::optional<std::string> Header(absl::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  HttpHeaders headers;  // Content-Type included when there is a body
  std::string body;
};

// Sends the response for one request; callable from any thread, exactly once.
using HttpReply = std::function<void(HttpResponse)>;

// Handles requests. Must not block: a slow answer calls `reply` later from another thread.
class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  virtual void Handle(HttpRequest request, HttpReply reply) = 0;
};

}  // namespace spine::gateway
