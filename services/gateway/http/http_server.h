// HttpServer: the gateway's HTTP/1.1 listener on Boost.Beast (async, keep-alive).
//
// Reads one request at a time per connection (so pipelined requests are answered in order),
// bounds header and body sizes (431 / 413), drops clients that do not deliver a request within
// the read timeout (slowloris), assigns every request an X-Request-Id and passes it to the
// HttpHandler. Thread-safe.
//
// Connections are bounded twice, so one client cannot take the gateway's sockets from everyone
// else. Per client: a peer (keyed by `per_ip_key`) holding `max_connections_per_ip` connections
// has its next one answered 503 and closed. In all: at `max_connections`, a new connection first
// displaces the connection that has waited longest for a request (an idle keep-alive connection,
// or one that has not finished sending its headers); only when every connection is busy
// answering a request is the new one answered 503. The per-client count is keyed by the socket
// peer, since no header has been read when a connection is accepted.
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
  // Connections one client key may hold at once; 0: no per-client cap.
  int64_t max_connections_per_ip = 0;
  // The key a peer's connections are counted under (e.g. its IPv6 /64), or "" for a peer that is
  // not capped (a trusted proxy, which carries many clients' connections). Null: the peer's
  // address text. Called on the accepting thread, once per connection.
  std::function<std::string(const std::string& peer_ip)> per_ip_key{};
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
