// A blocking HTTP/1.1 client for integration tests (one request per connection).
#pragma once

#include <map>
#include <string>

namespace spine::testing {

struct HttpResult {
  int status = 0;                              // 0 when the connection failed
  std::map<std::string, std::string> headers;  // lower-cased names
  std::string body;
};

// The same, from the local address `source_ip` (any 127.x address on loopback), so a test can
// act as several clients.
HttpResult HttpRequestFrom(const std::string& source_ip, int port, const std::string& method,
                           const std::string& target,
                           const std::map<std::string, std::string>& headers = {},
                           const std::string& body = "");

HttpResult HttpRequestTo(int port, const std::string& method, const std::string& target,
                         const std::map<std::string, std::string>& headers = {},
                         const std::string& body = "");

}  // namespace spine::testing
