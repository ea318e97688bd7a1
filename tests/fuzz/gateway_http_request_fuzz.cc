// Fuzz target for the gateway's HTTP request reading: the bytes are what a client sends on one
// connection. They go through Boost.Beast's request_parser configured as HttpServer configures it
// (ApplyRequestLimits with the server's default options) and read as the server reads them —
// header first (not eager), the body-size check, then the rest (eager), the next request from
// the leftover bytes while the connection is kept alive. Every complete message becomes an
// HttpRequest (ToHttpRequest, ClientRequestId) and is handled by the real TranscodingHandler over
// the real route table. Its upstream is an UpstreamClient without channels, which answers every
// call at once with UNIMPLEMENTED: a fake would have to follow the Upstream interface as it grows,
// and what is fuzzed here is the request side.
//
// The bytes are read twice: delivered all at once, and a few bytes at a time (as TCP may split
// them).
//
// Properties checked on every input:
//  - nothing crashes; both deliveries give the same requests, and end the same way or both in an
//    error (not necessarily the same one: Beast judges the start line as soon as it has it whole
//    but, once it has waited for more, only at the end of the header, so "GET / HTTP/1.1\n\n"
//    is "bad version" at once and "partial message" when it trickles in); except that a header
//    over max_header_bytes may be read whole and refused in pieces (see the end of this file),
//    and no accepted header is over twice the limit;
//  - a request's path and query put back together are its target, the path has no '?', the
//    headers are the message's fields in order, the body is within the limit;
//  - the request id taken from the client is 1..128 characters of [A-Za-z0-9._:-] and is the
//    value HttpRequest::Header("x-request-id") finds, and a valid such header is always taken;
//  - the handler replies exactly once, with a status in 200..599; a success carries the route's
//    success code; an error is the JSON error shape with the same code.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "boost/asio/buffer.hpp"
#include "boost/beast/http.hpp"
#include "libs/rpc/method_access.h"
#include "nlohmann/json.hpp"
#include "services/gateway/http/beast_request.h"
#include "services/gateway/http/http_message.h"
#include "services/gateway/http/http_server.h"
#include "services/gateway/transcode/route_table.h"
#include "services/gateway/transcode/transcoding_handler.h"
#include "services/gateway/transcode/upstream_client.h"

namespace {

namespace http = boost::beast::http;
using boost::beast::error_code;
using spine::gateway::BeastRequestParser;
using spine::gateway::HttpRequest;
using spine::gateway::HttpResponse;

// At most this many pipelined requests are read from one input.
constexpr int kMaxRequests = 16;
// The second delivery hands the parser this many new bytes per read.
constexpr size_t kSmallRead = 3;

void Fail(const char* what) {
  std::fprintf(stderr, "gateway_http_request_fuzz: %s\n", what);
  std::abort();
}

// The defaults the server runs with unless configured otherwise.
const spine::gateway::HttpServerOptions& Options() {
  static const spine::gateway::HttpServerOptions options;
  return options;
}

// One client connection: the bytes not yet delivered, and the server's read buffer.
struct Connection {
  absl::string_view unread;
  size_t read_size = 0;
  std::string buffer{};
};

// Beast's read_some (http/impl/read.hpp) on `connection`: parse what is buffered, read more while
// the parser needs it, and at the end of the input finish the message or report end_of_stream.
error_code ReadSome(Connection& connection, BeastRequestParser& parser) {
  error_code ec;
  bool parse = !connection.buffer.empty();
  while (true) {
    if (parse) {
      const size_t used = parser.put(boost::asio::buffer(connection.buffer), ec);
      connection.buffer.erase(0, used);
      if (ec != http::error::need_more) return ec;
    }
    parse = true;
    if (connection.unread.empty()) {
      if (!parser.got_some()) return http::error::end_of_stream;
      ec = {};
      parser.put_eof(ec);
      return ec;
    }
    const size_t n = std::min(connection.read_size, connection.unread.size());
    connection.buffer.append(connection.unread.data(), n);
    connection.unread.remove_prefix(n);
  }
}

// Beast's read_op: read_some until `done` or an error.
template <typename Done>
error_code ReadUntil(Connection& connection, BeastRequestParser& parser, Done done) {
  error_code ec;
  while (!ec && !done(parser)) ec = ReadSome(connection, parser);
  return ec;
}

// What the server made of one connection: the requests it handed to the handler, then why it
// stopped ("" when the client closed between requests).
struct Outcome {
  std::vector<HttpRequest> requests;
  std::vector<size_t> header_bytes;  // of each request
  std::string end;
  bool header_limit = false;  // `end` is the header limit (431)
};

void CheckRequest(const HttpRequest& request, const spine::gateway::BeastRequest& message) {
  const std::string target(message.target());
  if (absl::StrContains(request.path, '?')) Fail("path holds a '?'");
  const std::string rejoined =
      absl::StrContains(target, '?') ? request.path + "?" + request.query : request.path;
  if (rejoined != target) Fail("path and query are not the target");
  if (request.method != message.method_string()) Fail("method changed");
  size_t i = 0;
  for (const auto& field : message) {
    if (i >= request.headers.size() || request.headers[i].first != field.name_string() ||
        request.headers[i].second != field.value()) {
      Fail("headers are not the message's fields in order");
    }
    ++i;
  }
  if (i != request.headers.size()) Fail("headers are not the message's fields");
  if (request.body.size() > static_cast<uint64_t>(Options().max_body_bytes)) {
    Fail("body over the limit");
  }
}

void CheckRequestId(const std::string& client_id, const HttpRequest& request) {
  const std::optional<std::string> header = request.Header("x-request-id");
  if (!client_id.empty()) {
    if (client_id.size() > 128) Fail("request id too long");
    for (const char c : client_id) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == ':' || c == '-';
      if (!ok) Fail("request id holds a character outside [A-Za-z0-9._:-]");
    }
    if (header != client_id) Fail("request id is not the first X-Request-Id header");
  } else if (header && spine::rpc::IsValidRequestId(*header)) {
    Fail("a valid X-Request-Id was not taken");
  }
}

void Handle(HttpRequest request) {
  static const spine::gateway::RouteTable routes = [] {
    absl::StatusOr<spine::gateway::RouteTable> built =
        spine::gateway::RouteTable::Build(spine::rpc::SpineApiFiles());
    if (!built.ok()) Fail("the route table does not build");
    return *std::move(built);
  }();
  static const spine::gateway::UpstreamClient upstream({}, absl::Seconds(5));
  static spine::gateway::TranscodingHandler handler(routes, upstream, absl::Seconds(5));

  const std::string label = handler.RouteLabel(request);
  const spine::gateway::Route* route = label.empty() ? nullptr : [&] {
    const spine::gateway::Route* found = routes.Find(request.method, label);
    return found != nullptr ? found : routes.Find("GET", label);  // HEAD answers as GET
  }();
  int replies = 0;
  std::optional<HttpResponse> response;
  handler.Handle(std::move(request), [&](HttpResponse answer) {
    ++replies;
    response = std::move(answer);
  });
  if (replies != 1) Fail("the handler did not reply exactly once");
  if (response->status < 200 || response->status > 599) Fail("status outside 200..599");
  if (response->status < 300) {
    if (route == nullptr || response->status != route->success_code) {
      Fail("success without its route's success code");
    }
    return;
  }
  const nlohmann::json body = nlohmann::json::parse(response->body, nullptr, false);
  if (body.is_discarded() || !body.contains("error") || !body["error"].is_object() ||
      body["error"].value("code", 0) != response->status) {
    Fail("error body is not the JSON error shape with the response's code");
  }
}

Outcome Serve(absl::string_view bytes, size_t read_size) {
  Connection connection{.unread = bytes, .read_size = read_size};
  Outcome outcome;
  for (int n = 0; n < kMaxRequests; ++n) {
    BeastRequestParser parser;
    spine::gateway::ApplyRequestLimits(Options(), parser);
    // http::async_read_header: not eager, stop at the end of the header.
    parser.eager(false);
    const size_t unparsed = connection.unread.size() + connection.buffer.size();
    error_code ec = ReadUntil(connection, parser,
                              [](const BeastRequestParser& p) { return p.is_header_done(); });
    if (ec) {
      outcome.end = ec == http::error::end_of_stream ? "" : ec.message();
      outcome.header_limit = ec == http::error::header_limit;
      return outcome;
    }
    const size_t header_bytes = unparsed - connection.unread.size() - connection.buffer.size();
    if (header_bytes > 2 * static_cast<uint64_t>(Options().max_header_bytes)) {
      Fail("header over twice the limit accepted");
    }
    const std::string client_id = spine::gateway::ClientRequestId(parser.get());
    if (parser.content_length() &&
        *parser.content_length() > static_cast<uint64_t>(Options().max_body_bytes)) {
      outcome.end = "413";
      return outcome;
    }
    // http::async_read: eager, stop at the end of the message.
    parser.eager(true);
    ec = ReadUntil(connection, parser, [](const BeastRequestParser& p) { return p.is_done(); });
    if (ec) {
      outcome.end = ec.message();
      return outcome;
    }
    spine::gateway::BeastRequest message = parser.release();
    const bool keep_alive = message.keep_alive();
    HttpRequest request = spine::gateway::ToHttpRequest(message);
    CheckRequest(request, message);
    CheckRequestId(client_id, request);
    request.request_id = client_id.empty() ? "fuzz-generated-id" : client_id;
    request.peer_ip = "192.0.2.1";
    outcome.requests.push_back(request);
    outcome.header_bytes.push_back(header_bytes);
    Handle(std::move(request));
    if (!keep_alive) {
      outcome.end = "closed";
      return outcome;
    }
  }
  outcome.end = "enough";
  return outcome;
}

bool SameRequest(const HttpRequest& a, const HttpRequest& b) {
  return a.method == b.method && a.path == b.path && a.query == b.query && a.headers == b.headers &&
         a.body == b.body && a.request_id == b.request_id;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  const Outcome whole = Serve(input, input.size() + 1);
  const Outcome pieces = Serve(input, kSmallRead);
  const auto is_error = [](const std::string& end) {
    return !end.empty() && end != "closed" && end != "enough";
  };
  const size_t common = std::min(whole.requests.size(), pieces.requests.size());
  bool same = true;
  for (size_t i = 0; same && i < common; ++i) {
    same = SameRequest(whole.requests[i], pieces.requests[i]);
  }
  if (same && whole.requests.size() > common && pieces.header_limit) {
    // Beast 1.74 holds the start line and the fields to header_limit separately when they come
    // in one read, but the whole header to it while it waits for more: a header between one and
    // two limits long is read whole and refused in pieces. The rest is then not comparable.
    same = whole.header_bytes[common] > static_cast<uint64_t>(Options().max_header_bytes);
  } else if (same) {
    same = whole.requests.size() == pieces.requests.size() &&
           (whole.end == pieces.end || (is_error(whole.end) && is_error(pieces.end)));
  }
  if (!same) {
    std::fprintf(stderr, "whole: %zu requests, end '%s'; in pieces: %zu requests, end '%s'\n",
                 whole.requests.size(), whole.end.c_str(), pieces.requests.size(),
                 pieces.end.c_str());
    Fail("delivery in pieces changed what was read");
  }
  return 0;
}
