// HttpRequest / HttpResponse: the gateway's own view of an HTTP exchange, free of Beast types so
// routing logic can be tested without sockets.
#pragma once

#include <functional>
#include <memory>
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
  // The client as the rate limit counts it (the peer, or behind a trusted proxy the forwarded
  // address); set by GatewayHttpHandler, empty before.
  std::string client_ip;

  // The first header named `name` (case-insensitive).
  std::optional<std::string> Header(absl::string_view name) const;
};

// The body of a response produced over time (server-sent events, downloads), sent with chunked
// encoding. Thread-safe: any thread may write.
class HttpBodyWriter {
 public:
  virtual ~HttpBodyWriter() = default;
  // Queues `chunk` for the client. False once the client is gone or has fallen too far behind
  // (the queue is bounded): the producer should stop.
  virtual bool Write(std::string chunk) = 0;
  // Ends the body (the connection then closes). Later writes are ignored.
  virtual void Finish() = 0;
  // Ends the connection without ending the body, so the client sees it cut short rather than
  // complete (a download whose source failed half way). Later writes are ignored.
  virtual void Abort() = 0;
  // Calls `ready` once, from the connection's thread, when everything written so far has gone
  // to the client (at once if nothing waits): a producer writes, then waits for this before
  // the next write, to go at the client's pace. Never called once the client has gone (the
  // response's on_client_gone is told instead).
  virtual void WhenDrained(std::function<void()> ready) = 0;
};

struct HttpResponse {
  int status = 200;
  HttpHeaders headers;  // Content-Type included when there is a body
  std::string body;
  // A streamed body: when set, `body` is ignored, the head is sent, and then `stream` is called
  // once with the writer (from the connection's thread).
  std::function<void(std::shared_ptr<HttpBodyWriter>)> stream{};
  // For a streamed body: called once, from any thread, if the client goes away before Finish.
  std::function<void()> on_client_gone{};
  // Extra fields of the request's access log line (route template, client, user id). Never a
  // credential.
  std::vector<std::pair<std::string, std::string>> access_log{};
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
