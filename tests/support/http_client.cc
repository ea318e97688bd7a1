#include "tests/support/http_client.h"

#include <algorithm>
#include <cctype>

#include "boost/asio/connect.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"

namespace spine::testing {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;

HttpResult HttpRequestTo(int port, const std::string& method, const std::string& target,
                         const std::map<std::string, std::string>& headers,
                         const std::string& body) {
  return HttpRequestFrom("", port, method, target, headers, body);
}

HttpResult HttpRequestFrom(const std::string& source_ip, int port, const std::string& method,
                           const std::string& target,
                           const std::map<std::string, std::string>& headers,
                           const std::string& body) {
  HttpResult result;
  try {
    net::io_context io;
    beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::seconds(10));
    if (!source_ip.empty()) {
      stream.socket().open(net::ip::tcp::v4());
      stream.socket().bind(net::ip::tcp::endpoint(net::ip::make_address(source_ip), 0));
    }
    stream.connect(net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"),
                                          static_cast<unsigned short>(port)));
    http::request<http::string_body> request(http::string_to_verb(method), target, 11);
    request.set(http::field::host, "127.0.0.1");
    for (const auto& [name, value] : headers) request.set(name, value);
    request.body() = body;
    request.prepare_payload();
    http::write(stream, request);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.skip(request.method() == http::verb::head);  // a HEAD response has no body to read
    http::read(stream, buffer, parser);
    const http::response<http::string_body>& response = parser.get();
    result.status = static_cast<int>(response.result_int());
    for (const auto& field : response) {
      std::string name(field.name_string());
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return std::tolower(c); });
      result.headers[name] = std::string(field.value());
    }
    result.body = response.body();
    beast::error_code ec;
    stream.socket().shutdown(net::ip::tcp::socket::shutdown_both, ec);
  } catch (const std::exception&) {
    result.status = 0;
  }
  return result;
}

}  // namespace spine::testing
