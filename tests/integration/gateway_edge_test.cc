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
#include "tests/support/poll.h"

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

// Logs in over HTTP from `source_ip`; the HTTP result (its body holds the tokens).
HttpResult LoginFrom(const std::string& source_ip, int port, const std::string& username,
                     const std::string& password) {
  return HttpRequestFrom(source_ip, port, "POST", "/api/auth/login",
                         {{"Content-Type", "application/json"}},
                         Json{{"username", username}, {"password", password}}.dump());
}

void StartStorageAndGateway(Constellation& stack, const std::string& source_ip = "127.0.0.1") {
  REQUIRE(stack.WaitHealthy("storage", absl::Seconds(15)));
  REQUIRE(stack.WaitHealthy("gateway", absl::Seconds(15)));
  // The first admin is created in the background (no push signal): poll until it can log in.
  const int status = PollFor(
      [&] {
        return LoginFrom(source_ip, stack.http_port(), Constellation::kAdminUsername,
                         Constellation::kAdminPassword)
            .status;
      },
      [](int seen) { return seen == 200; }, absl::Seconds(20), kGatewayPollInterval);
  INFO(stack.Log("gateway"));
  REQUIRE(status == 200);
}

}  // namespace

TEST_CASE("one client holding idle connections cannot lock others out of the gateway") {
  Constellation stack(
      std::vector<std::string>{"gateway"},
      {{"SPINE_HTTP_MAX_CONNECTIONS", "64"}, {"SPINE_HTTP_MAX_CONNECTIONS_PER_IP", "8"}});
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
  Constellation stack(
      std::vector<std::string>{"gateway"},
      {{"SPINE_HTTP_MAX_CONNECTIONS", "16"}, {"SPINE_HTTP_MAX_CONNECTIONS_PER_IP", "4"}});
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

TEST_CASE("an access token stops working at logout, and a token for no user never works") {
  Constellation stack(std::vector<std::string>{"storage", "gateway"});
  StartStorageAndGateway(stack);
  const int port = stack.http_port();
  const HttpResult login =
      LoginFrom("127.0.0.1", port, Constellation::kAdminUsername, Constellation::kAdminPassword);
  REQUIRE(login.status == 200);
  const Json tokens = Json::parse(login.body);
  const std::map<std::string, std::string> bearer = {
      {"Authorization", "Bearer " + tokens["accessToken"].get<std::string>()}};
  REQUIRE(HttpRequestTo(port, "GET", "/api/thoughts", bearer).status == 200);

  std::map<std::string, std::string> logout_headers = bearer;
  logout_headers["Content-Type"] = "application/json";
  REQUIRE(HttpRequestTo(port, "POST", "/api/auth/logout", logout_headers,
                        Json{{"refreshToken", tokens["refreshToken"]}}.dump())
              .status == 204);
  const HttpResult after = HttpRequestTo(port, "GET", "/api/thoughts", bearer);
  CHECK(after.status == 401);
  CHECK(Json::parse(after.body)["error"]["details"][0]["reason"] == "TOKEN_REVOKED");
  CHECK(HttpRequestTo(port, "GET", "/api/auth/me", bearer).status == 401);

  // Correctly signed, current, for a user id that does not exist.
  auto key = Ed25519PrivateKey::FromPem(stack.private_key_pem());
  REQUIRE(key.ok());
  const JwtSigner signer(*std::move(key), RealClock::Instance());
  auto ghost = signer.Sign("999999", "ghost", "user");
  REQUIRE(ghost.ok());
  const HttpResult unknown =
      HttpRequestTo(port, "GET", "/api/thoughts", {{"Authorization", "Bearer " + *ghost}});
  CHECK(unknown.status == 401);
  CHECK(Json::parse(unknown.body)["error"]["details"][0]["reason"] == "TOKEN_USER_UNKNOWN");
}

TEST_CASE("a stranger's failed logins do not lock the user out from elsewhere") {
  Constellation stack(std::vector<std::string>{"storage", "gateway"});
  StartStorageAndGateway(stack);
  const int port = stack.http_port();
  // The attacker at 127.0.0.2 guesses ten times and is locked out...
  for (int i = 0; i < 10; ++i) {
    CHECK(LoginFrom("127.0.0.2", port, Constellation::kAdminUsername, "wrong password!!").status ==
          401);
  }
  CHECK(LoginFrom("127.0.0.2", port, Constellation::kAdminUsername, Constellation::kAdminPassword)
            .status == 429);
  // ...the admin at 127.0.0.1 is not...
  CHECK(LoginFrom("127.0.0.1", port, Constellation::kAdminUsername, Constellation::kAdminPassword)
            .status == 200);
  // ...and the attacker still is.
  CHECK(LoginFrom("127.0.0.2", port, Constellation::kAdminUsername, Constellation::kAdminPassword)
            .status == 429);
}

TEST_CASE("login spraying over the gateway's gRPC port is rate limited per peer") {
  Constellation stack(std::vector<std::string>{"storage", "gateway"},
                      {{"SPINE_RATE_LIMIT_PER_MINUTE", "5"}});
  // Over HTTP from another address: the limiter's buckets are shared by HTTP and gRPC.
  StartStorageAndGateway(stack, "127.0.0.3");
  auto stub =
      spine::v1::AuthService::NewStub(rpc::MakeChannel(stack.GrpcAddress("gateway"), 4 << 20));
  grpc::Status last;
  int attempts = 0;
  for (; attempts < 20; ++attempts) {
    spine::v1::LoginRequest request;
    request.set_username(absl::StrCat("user", attempts));
    request.set_password("a sprayed password");
    spine::v1::SessionTokens tokens;
    auto context = rpc::MakeClientContext(absl::Seconds(10));
    last = stub->Login(context.get(), request, &tokens);
    if (last.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) break;
    CHECK(last.error_code() == grpc::StatusCode::UNAUTHENTICATED);
  }
  CHECK(attempts <= 6);  // five tokens, and maybe one refilled meanwhile
  CHECK(last.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  CHECK(last.error_message().find("retry in") != std::string::npos);
  // /openapi.json takes from a client's budget too (a fresh client here).
  int status = 0;
  for (int i = 0; i < 10 && status != 429; ++i) {
    status = HttpRequestFrom("127.0.0.4", stack.http_port(), "GET", "/openapi.json").status;
  }
  CHECK(status == 429);
}

TEST_CASE("oversized tokens and non-strict JSON get clear 4xx answers, not gRPC's") {
  Constellation stack(std::vector<std::string>{"storage", "gateway"});
  StartStorageAndGateway(stack);
  const int port = stack.http_port();
  const HttpResult big_token = HttpRequestTo(
      port, "GET", "/api/thoughts", {{"Authorization", "Bearer " + std::string(8000, 'a')}});
  CHECK(big_token.status == 401);
  CHECK(big_token.body.find("exceeds limit") == std::string::npos);

  const HttpResult login =
      LoginFrom("127.0.0.1", port, Constellation::kAdminUsername, Constellation::kAdminPassword);
  REQUIRE(login.status == 200);
  const std::map<std::string, std::string> headers = {
      {"Authorization", "Bearer " + Json::parse(login.body)["accessToken"].get<std::string>()},
      {"Content-Type", "application/json"}};
  for (const std::string& body :
       {std::string(R"({"text":"a","text":"b"})"), std::string(R"({"text":"a\u0000b"})"),
        std::string("\xEF\xBB\xBF{\"text\":\"a\"}")}) {
    INFO(body);
    const HttpResult result = HttpRequestTo(port, "POST", "/api/thoughts", headers, body);
    CHECK(result.status == 400);
    CHECK(Json::parse(result.body)["error"]["status"] == "INVALID_ARGUMENT");
  }
}

}  // namespace spine::testing
