// Attacks on the gateway's edge through the real binary: one client holding every connection,
// tokens that outlive their session or their user, login lockout as a weapon against others,
// and login spraying over the gateway's gRPC port. Several loopback addresses (127.0.0.x) play
// distinct clients.
#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "boost/asio/ip/tcp.hpp"
#include "libs/auth/ed25519_keys.h"
#include "libs/auth/jwt.h"
#include "libs/core/clock.h"
#include "libs/rpc/channel.h"
#include "nlohmann/json.hpp"
#include "spine/v1/auth.grpc.pb.h"
#include "tests/integration/constellation.h"
#include "tests/support/http_client.h"

namespace spine::testing {
namespace {

using Json = nlohmann::json;
namespace net = boost::asio;

// Idle TCP connections to the gateway from `source_ip`, held open until destroyed: they never
// send a byte, like the attack's sockets.
class IdleSockets {
 public:
  IdleSockets(int port, const std::string& source_ip, int count) {
    for (int i = 0; i < count; ++i) {
      auto socket = std::make_unique<net::ip::tcp::socket>(io_);
      socket->open(net::ip::tcp::v4());
      socket->bind(net::ip::tcp::endpoint(net::ip::make_address(source_ip), 0));
      boost::system::error_code ec;
      socket->connect(net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"),
                                             static_cast<unsigned short>(port)),
                      ec);
      if (!ec) sockets_.push_back(std::move(socket));
    }
  }
  size_t size() const { return sockets_.size(); }

 private:
  net::io_context io_;
  std::vector<std::unique_ptr<net::ip::tcp::socket>> sockets_;
};

}  // namespace

TEST_CASE("one client holding idle connections cannot lock others out of the gateway") {
  Constellation stack(std::vector<std::string>{"gateway"},
                      {{"SPINE_HTTP_MAX_CONNECTIONS", "64"},
                       {"SPINE_HTTP_MAX_CONNECTIONS_PER_IP", "8"}});
  REQUIRE(stack.WaitHealthy("gateway", absl::Seconds(15)));
  const int port = stack.http_port();
  // The attack: more idle sockets than the whole server allows, all from one address.
  IdleSockets attack(port, "127.0.0.2", 80);
  CHECK(attack.size() == 80);  // the kernel completes handshakes; the gateway decides
  // Its next request is refused for its address...
  const HttpResult refused = HttpRequestFrom("127.0.0.2", port, "GET", "/healthz");
  CHECK(refused.status == 503);
  CHECK(Json::parse(refused.body)["error"]["details"][0]["reason"] == "TOO_MANY_CONNECTIONS");
  // ...while another client is served.
  CHECK(HttpRequestFrom("127.0.0.1", port, "GET", "/healthz").status == 200);
}

TEST_CASE("a full gateway displaces idle connections for a new client") {
  Constellation stack(std::vector<std::string>{"gateway"},
                      {{"SPINE_HTTP_MAX_CONNECTIONS", "16"},
                       {"SPINE_HTTP_MAX_CONNECTIONS_PER_IP", "4"}});
  REQUIRE(stack.WaitHealthy("gateway", absl::Seconds(15)));
  const int port = stack.http_port();
  // Eight addresses, each within its own cap, together hold twice the server's connections.
  std::vector<std::unique_ptr<IdleSockets>> attack;
  for (int host = 2; host <= 9; ++host) {
    attack.push_back(std::make_unique<IdleSockets>(port, absl::StrCat("127.0.0.", host), 4));
  }
  for (int i = 0; i < 3; ++i) {
    CHECK(HttpRequestFrom("127.0.0.1", port, "GET", "/healthz").status == 200);
  }
}

}  // namespace spine::testing
