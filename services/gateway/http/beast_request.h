// The HTTP server's socket-free steps between Boost.Beast's request parser and HttpRequest: the
// parser limits, the client's request id, and the conversion of a complete message. HttpServer
// uses them; the gateway_http_request_fuzz target runs the same code on raw bytes. Inline so the
// fuzz target compiles them with its own instrumentation. Stateless; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "boost/beast/http.hpp"
#include "libs/rpc/request_id.h"
#include "services/gateway/http/http_message.h"
#include "services/gateway/http/http_server.h"

namespace spine::gateway {

using BeastRequestParser = boost::beast::http::request_parser<boost::beast::http::string_body>;
using BeastRequest = boost::beast::http::request<boost::beast::http::string_body>;

// Makes `parser` refuse a header over options.max_header_bytes (http::error::header_limit, 431)
// and a body over options.max_body_bytes (http::error::body_limit, 413).
inline void ApplyRequestLimits(const HttpServerOptions& options, BeastRequestParser& parser) {
  parser.header_limit(static_cast<uint32_t>(options.max_header_bytes));
  parser.body_limit(static_cast<uint64_t>(options.max_body_bytes));
}

// The client's X-Request-Id (the first one) when rpc::IsValidRequestId accepts it, else "" (the
// server then assigns a new one).
inline std::string ClientRequestId(const boost::beast::http::request_header<>& header) {
  const auto client_id = header.find("X-Request-Id");
  if (client_id != header.end() && rpc::IsValidRequestId(std::string(client_id->value()))) {
    return std::string(client_id->value());
  }
  return "";
}

// The gateway's view of a complete message: the method, the target split at its first '?' into
// path and undecoded query, every header in order, the body. peer_ip and request_id are the
// caller's to fill.
inline HttpRequest ToHttpRequest(BeastRequest message) {
  HttpRequest request;
  request.method = std::string(message.method_string());
  const std::string target(message.target());
  const size_t question = target.find('?');
  request.path = target.substr(0, question);
  if (question != std::string::npos) request.query = target.substr(question + 1);
  for (const auto& field : message) {
    request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  request.body = std::move(message.body());
  return request;
}

}  // namespace spine::gateway
