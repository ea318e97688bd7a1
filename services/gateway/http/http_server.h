// HttpServer: the gateway's HTTP/1.1 listener on Boost.Beast (async, keep-alive).
//
// Reads one request at a time per connection (so pipelined requests are answered in order),
// bounds header and body sizes (431 / 413), drops clients that do not deliver a request within
// the read timeout (slowloris), refuses connections beyond the limit with 503, assigns every
// request an X-Request-Id and passes it to the HttpHandler. Thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/gateway/http/http_message.h"

namespace spine::gateway {

struct HttpServerOptions {
  std::string address;  // host:port; port 0 picks a free one
  int threads = 2;
  int64_t max_connections = 1024;
  int64_t max_body_bytes = 1 << 20;
  int64_t max_header_bytes = 16 << 10;
  absl::Duration read_timeout = absl::Seconds(10);
  // Called as each connection opens and closes (for the open-connections gauge); optional.
  std::function<void()> on_connection_open{};
  std::function<void()> on_connection_close{};
};

class HttpServer {
 public:
  // Binds and starts serving on `options.threads` threads. `handler` must outlive the server.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options,
                                                           HttpHandler& handler);
  ~HttpServer();

  int port() const;
  // Stops accepting, lets requests being answered finish within `grace`, then closes every
  // connection and joins the threads. Idempotent.
  void Stop(absl::Duration grace = absl::Seconds(5));

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace spine::gateway
