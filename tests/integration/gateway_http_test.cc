// The HTTP API through the real gateway and the real services: transcoded thought routes,
// invalid requests that change nothing, the per-IP rate limit, and an upstream that dies and
// comes back.
#include <catch2/catch.hpp>
#include <csignal>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/auth/jwt.h"
#include "libs/core/clock.h"
#include "nlohmann/json.hpp"
#include "tests/integration/constellation.h"
#include "tests/integration/storage_client.h"
#include "tests/support/http_client.h"
#include "tests/support/poll.h"

namespace spine::testing {
namespace {

using Json = nlohmann::json;

std::string Bearer(const Constellation& stack, const std::string& user_id) {
  EnsureUserIds(stack, user_id);  // the gateway refuses tokens of users that do not exist
  auto key = Ed25519PrivateKey::FromPem(stack.private_key_pem());
  REQUIRE(key.ok());
  JwtSigner signer(std::move(*key), RealClock::Instance());
  auto token = signer.Sign(user_id, "user" + user_id, "user");
  REQUIRE(token.ok());
  return "Bearer " + *token;
}

// A user's HTTP client for one stack.
class Api {
 public:
  Api(const Constellation& stack, const std::string& user_id)
      : port_(stack.http_port()), authorization_(Bearer(stack, user_id)) {}

  HttpResult Send(const std::string& method, const std::string& target,
                  const std::string& body = "",
                  std::map<std::string, std::string> headers = {}) const {
    headers.emplace("Authorization", authorization_);
    if (!body.empty()) headers.emplace("Content-Type", "application/json");
    return HttpRequestTo(port_, method, target, headers, body);
  }

  int CountThoughts() const {
    const HttpResult list = Send("GET", "/api/thoughts?pageSize=500");
    REQUIRE(list.status == 200);
    return static_cast<int>(Json::parse(list.body)["thoughts"].size());
  }

 private:
  int port_;
  std::string authorization_;
};

void CheckErrorShape(const HttpResult& result, int status, const std::string& grpc_status) {
  INFO(result.body);
  CHECK(result.status == status);
  CHECK(result.headers.count("x-request-id") == 1);
  const Json body = Json::parse(result.body, nullptr, false);
  REQUIRE(body.is_object());
  CHECK(body["error"]["code"] == status);
  CHECK(body["error"]["status"] == grpc_status);
  CHECK(body["error"]["message"].is_string());
  REQUIRE(body["error"]["details"].is_array());
  CHECK(body["error"]["details"][0]["@type"] == "type.googleapis.com/google.rpc.ErrorInfo");
}

}  // namespace

TEST_CASE("thoughts round-trip through the gateway exactly as API.md says") {
  Constellation stack(std::vector<std::string>{"storage", "gateway"});
  REQUIRE(stack.WaitHealthy("storage", absl::Seconds(15)));
  REQUIRE(stack.WaitHealthy("gateway", absl::Seconds(15)));
  const Api alice(stack, "1");
  const Api bob(stack, "2");

  const HttpResult created =
      alice.Send("POST", "/api/thoughts", R"({"text":"hello world","tags":["a","b","a"]})");
  REQUIRE(created.status == 201);
  const Json thought = Json::parse(created.body);
  const std::string id = thought["id"];  // int64 as a string
  CHECK(created.headers.at("location") == "/api/thoughts/" + id);
  CHECK(thought["text"] == "hello world");
  CHECK(thought["tags"] == Json::array({"a", "b"}));
  CHECK(thought["createdAt"].is_string());
  CHECK(thought["updatedAt"] == thought["createdAt"]);

  const HttpResult fetched = alice.Send("GET", "/api/thoughts/" + id);
  REQUIRE(fetched.status == 200);
  CHECK(Json::parse(fetched.body) == thought);
  CHECK(bob.Send("GET", "/api/thoughts/" + id).status == 404);

  const HttpResult patched = alice.Send("PATCH", "/api/thoughts/" + id, R"({"tags":[]})");
  REQUIRE(patched.status == 200);
  CHECK(Json::parse(patched.body)["text"] == "hello world");
  CHECK(Json::parse(patched.body)["tags"] == Json::array());

  REQUIRE(alice.Send("POST", "/api/thoughts", R"({"text":"second thought","tags":["b"]})").status ==
          201);
  const HttpResult page = alice.Send("GET", "/api/thoughts?pageSize=1");
  REQUIRE(page.status == 200);
  const Json first_page = Json::parse(page.body);
  REQUIRE(first_page["thoughts"].size() == 1);
  CHECK(first_page["thoughts"][0]["text"] == "second thought");
  const std::string token = first_page["nextPageToken"];
  REQUIRE_FALSE(token.empty());
  const HttpResult next = alice.Send("GET", "/api/thoughts?pageSize=1&pageToken=" + token);
  REQUIRE(next.status == 200);
  CHECK(Json::parse(next.body)["thoughts"][0]["id"] == id);
  CHECK(Json::parse(next.body)["nextPageToken"] == "");
  CHECK(alice.Send("GET", "/api/thoughts?query=hello").status == 200);
  CHECK(Json::parse(alice.Send("GET", "/api/thoughts?tag=b").body)["thoughts"].size() == 1);

  const HttpResult deleted = alice.Send("DELETE", "/api/thoughts/" + id);
  CHECK(deleted.status == 204);
  CHECK(deleted.body.empty());
  CheckErrorShape(alice.Send("GET", "/api/thoughts/" + id), 404, "NOT_FOUND");
  CHECK(alice.Send("HEAD", "/api/thoughts").status == 200);
}

TEST_CASE("invalid requests get the right code and error shape and change nothing") {
  Constellation stack(std::vector<std::string>{"storage", "gateway"});
  REQUIRE(stack.WaitHealthy("storage", absl::Seconds(15)));
  REQUIRE(stack.WaitHealthy("gateway", absl::Seconds(15)));
  const Api api(stack, "1");
  REQUIRE(api.Send("POST", "/api/thoughts", R"({"text":"keep me"})").status == 201);
  const int before = api.CountThoughts();
  const int port = stack.http_port();

  auto key = Ed25519PrivateKey::FromPem(stack.private_key_pem());
  REQUIRE(key.ok());
  JwtSigner signer(std::move(*key), RealClock::Instance());
  const absl::Time now = absl::Now();
  AccessClaims expired{.sub = "1",
                       .name = "a",
                       .role = "user",
                       .iat = now - absl::Hours(2),
                       .exp = now - absl::Hours(1),
                       .nbf = std::nullopt,
                       .jti = "x"};
  const std::string expired_token = *signer.SignClaims(expired);
  auto other = GenerateEd25519PemPair();
  REQUIRE(other.ok());
  JwtSigner forger(*Ed25519PrivateKey::FromPem(other->first), RealClock::Instance());
  const std::string forged_token = *forger.Sign("1", "a", "user");

  struct Case {
    std::string what, method, target, body;
    std::map<std::string, std::string> headers;
    int status;
    std::string grpc_status;
  };
  const std::string json = "application/json";
  const std::string auth = Bearer(stack, "1");
  const std::vector<Case> cases = {
      {"malformed JSON", "POST", "/api/thoughts", "{", {}, 400, "INVALID_ARGUMENT"},
      {"truncated JSON", "POST", "/api/thoughts", R"({"text":"a")", {}, 400, "INVALID_ARGUMENT"},
      {"JSON array body", "POST", "/api/thoughts", "[]", {}, 400, "INVALID_ARGUMENT"},
      {"JSON string body", "POST", "/api/thoughts", "\"x\"", {}, 400, "INVALID_ARGUMENT"},
      {"unknown field",
       "POST",
       "/api/thoughts",
       R"({"text":"a","colour":1})",
       {},
       400,
       "INVALID_ARGUMENT"},
      {"text is a number", "POST", "/api/thoughts", R"({"text":5})", {}, 400, "INVALID_ARGUMENT"},
      {"text is an object", "POST", "/api/thoughts", R"({"text":{}})", {}, 400, "INVALID_ARGUMENT"},
      {"tags is a string",
       "POST",
       "/api/thoughts",
       R"({"text":"a","tags":"x"})",
       {},
       400,
       "INVALID_ARGUMENT"},
      {"tag is a number",
       "POST",
       "/api/thoughts",
       R"({"text":"a","tags":[1]})",
       {},
       400,
       "INVALID_ARGUMENT"},
      {"missing text", "POST", "/api/thoughts", R"({"tags":["a"]})", {}, 400, "INVALID_ARGUMENT"},
      {"empty text", "POST", "/api/thoughts", R"({"text":""})", {}, 400, "INVALID_ARGUMENT"},
      {"text too long",
       "POST",
       "/api/thoughts",
       Json({{"text", std::string(10001, 'x')}}).dump(),
       {},
       400,
       "INVALID_ARGUMENT"},
      {"invalid UTF-8",
       "POST",
       "/api/thoughts",
       "{\"text\":\"\xff\xfe\"}",
       {},
       400,
       "INVALID_ARGUMENT"},
      {"too many tags",
       "POST",
       "/api/thoughts",
       Json({{"text", "a"},
             {"tags", Json::array({"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12",
                                   "13", "14", "15", "16", "17"})}})
           .dump(),
       {},
       400,
       "INVALID_ARGUMENT"},
      {"tag too long",
       "POST",
       "/api/thoughts",
       Json({{"text", "a"}, {"tags", {std::string(65, 't')}}}).dump(),
       {},
       400,
       "INVALID_ARGUMENT"},
      {"empty tag",
       "POST",
       "/api/thoughts",
       R"({"text":"a","tags":[""]})",
       {},
       400,
       "INVALID_ARGUMENT"},
      {"control character in tag",
       "POST",
       "/api/thoughts",
       R"({"text":"a","tags":["a\u0001"]})",
       {},
       400,
       "INVALID_ARGUMENT"},
      {"query on a body route",
       "POST",
       "/api/thoughts?tag=x",
       R"({"text":"a"})",
       {},
       400,
       "INVALID_ARGUMENT"},
      {"id not a number", "GET", "/api/thoughts/abc", "", {}, 400, "INVALID_ARGUMENT"},
      {"id zero", "GET", "/api/thoughts/0", "", {}, 400, "INVALID_ARGUMENT"},
      {"id negative", "DELETE", "/api/thoughts/-4", "", {}, 400, "INVALID_ARGUMENT"},
      {"id overflows int64",
       "GET",
       "/api/thoughts/99999999999999999999",
       "",
       {},
       400,
       "INVALID_ARGUMENT"},
      {"bad percent escape", "GET", "/api/thoughts/%zz", "", {}, 400, "INVALID_ARGUMENT"},
      {"pageSize not a number",
       "GET",
       "/api/thoughts?pageSize=ten",
       "",
       {},
       400,
       "INVALID_ARGUMENT"},
      {"pageSize too large", "GET", "/api/thoughts?pageSize=501", "", {}, 400, "INVALID_ARGUMENT"},
      {"pageSize negative", "GET", "/api/thoughts?pageSize=-1", "", {}, 400, "INVALID_ARGUMENT"},
      {"unknown query parameter",
       "GET",
       "/api/thoughts?colour=red",
       "",
       {},
       400,
       "INVALID_ARGUMENT"},
      {"repeated scalar parameter",
       "GET",
       "/api/thoughts?pageSize=1&pageSize=2",
       "",
       {},
       400,
       "INVALID_ARGUMENT"},
      {"garbage page token",
       "GET",
       "/api/thoughts?pageToken=garbage",
       "",
       {},
       400,
       "INVALID_ARGUMENT"},
      {"tampered page token",
       "GET",
       "/api/thoughts?pageToken=" + std::string(66, 'A'),
       "",
       {},
       400,
       "INVALID_ARGUMENT"},
      {"body on a GET", "GET", "/api/thoughts/1", R"({"x":1})", {}, 400, "INVALID_ARGUMENT"},
      {"PATCH with unknown field",
       "PATCH",
       "/api/thoughts/1",
       R"({"txt":"a"})",
       {},
       400,
       "INVALID_ARGUMENT"},
      {"PATCH with empty text",
       "PATCH",
       "/api/thoughts/1",
       R"({"text":""})",
       {},
       400,
       "INVALID_ARGUMENT"},
      {"wrong method", "PUT", "/api/thoughts/1", R"({"text":"a"})", {}, 405, "UNIMPLEMENTED"},
      {"unknown route", "GET", "/api/thoughtz", "", {}, 404, "NOT_FOUND"},
      {"non-JSON content type",
       "POST",
       "/api/thoughts",
       R"({"text":"a"})",
       {{"Content-Type", "text/plain"}},
       415,
       "INVALID_ARGUMENT"},
      {"oversized body",
       "POST",
       "/api/thoughts",
       std::string((1 << 20) + 10, ' '),
       {},
       413,
       "INVALID_ARGUMENT"},
      {"no token", "GET", "/api/thoughts", "", {{"Authorization", ""}}, 401, "UNAUTHENTICATED"},
      {"not a bearer token",
       "GET",
       "/api/thoughts",
       "",
       {{"Authorization", "Basic dTpw"}},
       401,
       "UNAUTHENTICATED"},
      {"garbage token",
       "GET",
       "/api/thoughts",
       "",
       {{"Authorization", "Bearer abc.def.ghi"}},
       401,
       "UNAUTHENTICATED"},
      {"expired token",
       "GET",
       "/api/thoughts",
       "",
       {{"Authorization", "Bearer " + expired_token}},
       401,
       "UNAUTHENTICATED"},
      {"token from another key",
       "POST",
       "/api/thoughts",
       R"({"text":"a"})",
       {{"Authorization", "Bearer " + forged_token}},
       401,
       "UNAUTHENTICATED"},
      {"alg none token",
       "GET",
       "/api/thoughts",
       "",
       {{"Authorization", "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0."}},
       401,
       "UNAUTHENTICATED"},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    std::map<std::string, std::string> headers = c.headers;
    if (!headers.count("Authorization")) headers["Authorization"] = auth;
    if (headers["Authorization"].empty()) headers.erase("Authorization");
    if (!c.body.empty() && !headers.count("Content-Type")) headers["Content-Type"] = json;
    const HttpResult result = HttpRequestTo(port, c.method, c.target, headers, c.body);
    CheckErrorShape(result, c.status, c.grpc_status);
    if (c.status == 401) CHECK(result.headers.count("www-authenticate") == 1);
    if (c.status == 405) CHECK(result.headers.count("allow") == 1);
  }
  CHECK(cases.size() >= 40);
  CHECK(api.CountThoughts() == before);
}

TEST_CASE("the rate limit admits 100 requests a minute per client and exempts operations") {
  Constellation stack(std::vector<std::string>{"gateway"},
                      {{"SPINE_TRUSTED_PROXIES", "127.0.0.1"}});
  REQUIRE(stack.WaitHealthy("gateway", absl::Seconds(15)));
  const int port = stack.http_port();
  // An unknown API path answers 404 at once, and still counts. A token refills every 0.6 s, so
  // a burst gets 100 requests plus one per 0.6 s it took, and then a 429.
  const absl::Time start = absl::Now();
  int admitted = 0;
  HttpResult limited;
  while (admitted < 1000) {
    HttpResult result = HttpRequestTo(port, "GET", "/api/nothing");
    if (result.status == 429) {
      limited = std::move(result);
      break;
    }
    REQUIRE(result.status == 404);
    CHECK(result.headers.at("ratelimit-policy") == "\"default\";q=100;w=60");
    ++admitted;
  }
  const int refills = static_cast<int>((absl::Now() - start) / absl::Milliseconds(600));
  CHECK(admitted >= 100);
  CHECK(admitted <= 100 + refills + 1);
  CheckErrorShape(limited, 429, "RESOURCE_EXHAUSTED");
  CHECK(Json::parse(limited.body)["error"]["details"][0]["reason"] == "RATE_LIMITED");
  CHECK(std::stoi(limited.headers.at("retry-after")) >= 1);
  CHECK(limited.headers.at("ratelimit-policy") == "\"default\";q=100;w=60");
  CHECK(limited.headers.at("ratelimit").rfind("\"default\";r=0;t=", 0) == 0);
  for (int i = 0; i < 5; ++i) {
    CHECK(HttpRequestTo(port, "GET", "/healthz").status == 200);
    CHECK(HttpRequestTo(port, "GET", "/readyz").status != 429);
    CHECK(HttpRequestTo(port, "GET", "/status").status == 200);
    CHECK(HttpRequestTo(port, "GET", "/metrics").status == 200);
  }
  // Behind the trusted proxy (127.0.0.1) the forwarded client counts, and has its own bucket.
  const HttpResult proxied =
      HttpRequestTo(port, "GET", "/api/thoughts", {{"X-Forwarded-For", "203.0.113.9"}});
  CHECK(proxied.status != 429);
}

TEST_CASE("X-Forwarded-For is ignored from a peer that is not a trusted proxy") {
  Constellation stack(std::vector<std::string>{"gateway"}, {{"SPINE_RATE_LIMIT_PER_MINUTE", "3"}});
  REQUIRE(stack.WaitHealthy("gateway", absl::Seconds(15)));
  const int port = stack.http_port();
  for (int i = 0; i < 3; ++i) {
    CHECK(HttpRequestTo(port, "GET", "/api/thoughts",
                        {{"X-Forwarded-For", absl::StrCat("198.51.100.", i)}})
              .status != 429);
  }
  CHECK(
      HttpRequestTo(port, "GET", "/api/thoughts", {{"X-Forwarded-For", "198.51.100.77"}}).status ==
      429);
}

TEST_CASE("a dead upstream answers 503 at once and the next request after restart succeeds") {
  Constellation stack(std::vector<std::string>{"storage", "gateway"});
  REQUIRE(stack.WaitHealthy("storage", absl::Seconds(15)));
  REQUIRE(stack.WaitHealthy("gateway", absl::Seconds(15)));
  const Api api(stack, "1");
  REQUIRE(api.Send("GET", "/api/thoughts").status == 200);

  stack.process("storage").Signal(SIGKILL);
  REQUIRE(stack.process("storage").WaitExit(absl::Seconds(10)).has_value());
  const absl::Time start = absl::Now();
  const HttpResult down = api.Send("GET", "/api/thoughts");
  CHECK(absl::Now() - start < absl::Seconds(1));
  CheckErrorShape(down, 503, "UNAVAILABLE");
  CHECK(down.headers.count("retry-after") == 1);
  CHECK(down.body.find("127.0.0.1") == std::string::npos);
  // /status says so once its one-second cache turns over, and no answer is slowed by the corpse.
  const Json platform = PollFor(
      [&] {
        const absl::Time status_start = absl::Now();
        const HttpResult status_down = HttpRequestTo(stack.http_port(), "GET", "/status");
        CHECK(absl::Now() - status_start < absl::Seconds(1));
        REQUIRE(status_down.status == 200);
        return Json::parse(status_down.body);
      },
      [](const Json& seen) { return seen["dbConn"] == false; }, kPollTimeout, kGatewayPollInterval);
  CHECK(platform["dbConn"] == false);
  CHECK(platform["status"] == "degraded");
  CHECK(platform["services"]["storage"]["up"] == false);
  CHECK(platform["services"]["gateway"]["up"] == true);

  stack.Restart("storage");
  REQUIRE(stack.WaitHealthy("storage", absl::Seconds(15)));
  CHECK(PollFor([&] { return api.Send("GET", "/api/thoughts").status; },
                [](int status) { return status == 200; }, kPollTimeout,
                kGatewayPollInterval) == 200);
}

TEST_CASE("status and metrics report the platform and every request by route template") {
  Constellation stack(std::vector<std::string>{"storage", "gateway"});
  REQUIRE(stack.WaitHealthy("storage", absl::Seconds(15)));
  REQUIRE(stack.WaitHealthy("gateway", absl::Seconds(15)));
  const Api api(stack, "1");
  const HttpResult created = api.Send("POST", "/api/thoughts", R"({"text":"measured"})");
  REQUIRE(created.status == 201);
  const std::string id = Json::parse(created.body)["id"];
  REQUIRE(api.Send("GET", "/api/thoughts/" + id).status == 200);
  REQUIRE(api.Send("GET", "/api/thoughts/999999").status == 404);
  REQUIRE(api.Send("GET", "/no/such/path").status == 404);

  const HttpResult status = HttpRequestTo(stack.http_port(), "GET", "/status");
  REQUIRE(status.status == 200);
  const Json platform = Json::parse(status.body);
  CHECK(platform["dbConn"] == true);
  // llm, plugins and tasks are not running in this stack.
  CHECK(platform["status"] == "degraded");
  CHECK(platform["services"]["storage"]["up"] == true);
  CHECK(platform["services"]["llm"]["up"] == false);
  CHECK(platform["heapUsedMB"].is_number());
  for (const char* field : {"queueLag", "pluginSandboxAlive", "services"}) {
    INFO(field);
    CHECK(platform.contains(field));
  }

  // The earlier requests' connections close on the gateway's side a moment after their answers:
  // until then they still count as open.
  const HttpResult metrics =
      PollFor([&] { return HttpRequestTo(stack.http_port(), "GET", "/metrics"); },
              [](const HttpResult& seen) {
                return seen.body.find("spine_gateway_open_connections 1\n") != std::string::npos;
              },
              kPollTimeout, kGatewayPollInterval);
  REQUIRE(metrics.status == 200);
  CHECK(metrics.headers.at("content-type").rfind("text/plain; version=0.0.4", 0) == 0);
  const std::string& text = metrics.body;
  auto has = [&](const std::string& needle) {
    INFO(needle);
    CHECK(text.find(needle) != std::string::npos);
  };
  has("spine_gateway_http_requests_total{route=\"/api/thoughts/{id}\",method=\"GET\",code=\"200\"} "
      "1");
  has("spine_gateway_http_requests_total{route=\"/api/thoughts/{id}\",method=\"GET\",code=\"404\"} "
      "1");
  has("spine_gateway_http_requests_total{route=\"/api/thoughts\",method=\"POST\",code=\"201\"} 1");
  has("route=\"unmatched\"");
  has("spine_gateway_http_request_duration_seconds_bucket{");
  CHECK(text.find("/api/thoughts/" + id) == std::string::npos);  // never a raw path

  has("spine_gateway_open_connections 1");  // this very request's connection

  // The access log names the route template, client and verified user — never the token.
  const std::string log = stack.Log("gateway");
  CHECK(log.find("\"route\":\"/api/thoughts/{id}\"") != std::string::npos);
  CHECK(log.find("\"user\":\"1\"") != std::string::npos);
  CHECK(log.find("\"client\":\"127.0.0.1\"") != std::string::npos);
  CHECK(log.find(Bearer(stack, "1").substr(7, 40)) == std::string::npos);

  const HttpResult openapi = HttpRequestTo(stack.http_port(), "GET", "/openapi.json");
  REQUIRE(openapi.status == 200);
  const Json document = Json::parse(openapi.body);
  CHECK(document["openapi"] == "3.1.0");
  CHECK(document["paths"].contains("/api/thoughts/{id}"));
  CHECK(document["paths"]["/api/thoughts"].contains("post"));
}

TEST_CASE("every key in the public key file is trusted, so keys can rotate") {
  TempDir keys_dir;
  auto old_pair = GenerateEd25519PemPair();
  REQUIRE(old_pair.ok());
  // The gateway signs with the new key; the bundle lists it and the old one.
  auto new_pair = GenerateEd25519PemPair();
  REQUIRE(new_pair.ok());
  const std::string bundle =
      keys_dir.WriteFile("jwt_public.pem", absl::StrCat(new_pair->second, old_pair->second), 0600);
  const std::string signing = keys_dir.WriteFile("jwt_private.pem", new_pair->first, 0600);
  Constellation stack(
      std::vector<std::string>{"storage", "gateway"},
      {{"SPINE_JWT_PUBLIC_KEY_FILE", bundle}, {"SPINE_JWT_PRIVATE_KEY_FILE", signing}});
  REQUIRE(stack.WaitHealthy("storage", absl::Seconds(15)));
  REQUIRE(stack.WaitHealthy("gateway", absl::Seconds(15)));
  // User 1, the first admin, is created in the background; its login says it exists (this
  // stack's keys are not the Constellation's, so storage cannot be asked directly here).
  const int admin_login = PollFor(
      [&] {
        return HttpRequestTo(stack.http_port(), "POST", "/api/auth/login",
                             {{"Content-Type", "application/json"}},
                             Json{{"username", Constellation::kAdminUsername},
                                  {"password", Constellation::kAdminPassword}}
                                 .dump())
            .status;
      },
      [](int status) { return status == 200; }, kPollTimeout, kGatewayPollInterval);
  REQUIRE(admin_login == 200);
  for (const std::string* pem : {&new_pair->first, &old_pair->first}) {
    JwtSigner signer(*Ed25519PrivateKey::FromPem(*pem), RealClock::Instance());
    const HttpResult result =
        HttpRequestTo(stack.http_port(), "GET", "/api/thoughts",
                      {{"Authorization", "Bearer " + *signer.Sign("1", "a", "user")}});
    CHECK(result.status == 200);
  }
  auto stranger = GenerateEd25519PemPair();
  REQUIRE(stranger.ok());
  JwtSigner forger(*Ed25519PrivateKey::FromPem(stranger->first), RealClock::Instance());
  CHECK(HttpRequestTo(stack.http_port(), "GET", "/api/thoughts",
                      {{"Authorization", "Bearer " + *forger.Sign("1", "a", "user")}})
            .status == 401);
}

TEST_CASE("login, refresh and logout work through HTTP as API.md says") {
  Constellation stack(std::vector<std::string>{"storage", "gateway"});
  REQUIRE(stack.WaitHealthy("storage", absl::Seconds(15)));
  REQUIRE(stack.WaitHealthy("gateway", absl::Seconds(15)));
  const int port = stack.http_port();
  auto post = [&](const std::string& path, const Json& body, const std::string& bearer = "") {
    std::map<std::string, std::string> headers = {{"Content-Type", "application/json"}};
    if (!bearer.empty()) headers["Authorization"] = "Bearer " + bearer;
    return HttpRequestTo(port, "POST", path, headers, body.dump());
  };
  const Json credentials = {{"username", Constellation::kAdminUsername},
                            {"password", Constellation::kAdminPassword}};
  // The first admin is created in the background once storage answers.
  const HttpResult login = PollFor([&] { return post("/api/auth/login", credentials); },
                                   [](const HttpResult& seen) { return seen.status == 200; },
                                   kPollTimeout, kGatewayPollInterval);
  REQUIRE(login.status == 200);
  const Json session = Json::parse(login.body);
  CHECK(session["tokenType"] == "Bearer");
  CHECK(session["expiresIn"] == 900);
  CHECK(session["refreshExpiresIn"] == 30 * 24 * 3600);
  const std::string access = session["accessToken"];
  const std::string refresh = session["refreshToken"];

  const HttpResult me =
      HttpRequestTo(port, "GET", "/api/auth/me", {{"Authorization", "Bearer " + access}});
  REQUIRE(me.status == 200);
  CHECK(Json::parse(me.body)["username"] == Constellation::kAdminUsername);
  CHECK(Json::parse(me.body)["role"] == "admin");

  const HttpResult refreshed = post("/api/auth/refresh", {{"refreshToken", refresh}});
  REQUIRE(refreshed.status == 200);
  const std::string next_refresh = Json::parse(refreshed.body)["refreshToken"];
  CHECK(next_refresh != refresh);
  CheckErrorShape(post("/api/auth/refresh", {{"refreshToken", refresh}}), 401, "UNAUTHENTICATED");
  // That reuse revoked the family, and with it the access tokens issued in it.
  CheckErrorShape(
      HttpRequestTo(port, "GET", "/api/auth/me", {{"Authorization", "Bearer " + access}}), 401,
      "UNAUTHENTICATED");

  const HttpResult second = post("/api/auth/login", credentials);
  REQUIRE(second.status == 200);
  const Json second_session = Json::parse(second.body);
  const HttpResult logout =
      post("/api/auth/logout", {{"refreshToken", second_session["refreshToken"]}},
           second_session["accessToken"]);
  CHECK(logout.status == 204);
  CHECK(logout.body.empty());
  CheckErrorShape(post("/api/auth/refresh", {{"refreshToken", second_session["refreshToken"]}}),
                  401, "UNAUTHENTICATED");

  const HttpResult wrong = post("/api/auth/login", {{"username", Constellation::kAdminUsername},
                                                    {"password", "wrong password!"}});
  CheckErrorShape(wrong, 401, "UNAUTHENTICATED");
  const HttpResult unknown =
      post("/api/auth/login", {{"username", "nobody"}, {"password", "wrong password!"}});
  CheckErrorShape(unknown, 401, "UNAUTHENTICATED");
  CHECK(Json::parse(wrong.body)["error"]["message"] ==
        Json::parse(unknown.body)["error"]["message"]);

  // Admins create users; users cannot. (The earlier sessions are revoked, so a fresh one.)
  const HttpResult third = post("/api/auth/login", credentials);
  REQUIRE(third.status == 200);
  const std::string admin_access = Json::parse(third.body)["accessToken"];
  const HttpResult created =
      post("/api/users",
           {{"username", "carol"}, {"password", "a long enough password"}, {"role", "user"}},
           admin_access);
  REQUIRE(created.status == 201);
  CHECK(Json::parse(created.body)["username"] == "carol");
  CheckErrorShape(
      post("/api/users",
           {{"username", "carol"}, {"password", "a long enough password"}, {"role", "user"}},
           admin_access),
      409, "ALREADY_EXISTS");
  CheckErrorShape(
      post("/api/users", {{"username", "dave"}, {"password", "short"}, {"role", "user"}},
           admin_access),
      400, "INVALID_ARGUMENT");
  const HttpResult carol =
      post("/api/auth/login", {{"username", "carol"}, {"password", "a long enough password"}});
  REQUIRE(carol.status == 200);
  const std::string carol_token = Json::parse(carol.body)["accessToken"];
  CheckErrorShape(
      HttpRequestTo(port, "GET", "/api/users", {{"Authorization", "Bearer " + carol_token}}), 403,
      "PERMISSION_DENIED");
  const HttpResult users =
      HttpRequestTo(port, "GET", "/api/users", {{"Authorization", "Bearer " + admin_access}});
  REQUIRE(users.status == 200);
  CHECK(Json::parse(users.body)["users"].size() == 2);
}

TEST_CASE("a POST route without a body takes {} or an empty JSON body as no body") {
  Constellation stack(std::vector<std::string>{"storage", "tasks", "gateway"});
  for (const char* service : {"storage", "tasks", "gateway"}) {
    REQUIRE(stack.WaitHealthy(service, absl::Seconds(15)));
  }
  const Api api(stack, "1");
  // What HTTP clients send on a POST with nothing to say. The run does not exist: an answer
  // from spine-tasks (404 RUN_NOT_FOUND or the like), not the gateway's 400, shows the body
  // was taken as none.
  for (const std::string body : {"{}", " { }\r\n", "\t{\n}"}) {
    INFO("body '" << body << "'");
    const HttpResult result = api.Send("POST", "/api/runs/999999/cancel", body);
    CheckErrorShape(result, 404, "NOT_FOUND");
  }
  const HttpResult empty = HttpRequestTo(
      stack.http_port(), "POST", "/api/runs/999999/cancel",
      {{"Authorization", Bearer(stack, "1")}, {"Content-Type", "application/json"}}, "");
  CheckErrorShape(empty, 404, "NOT_FOUND");
  // Anything else is still refused as before.
  for (const std::string body : {R"({"id":"1"})", "[]", "{} {}", "{", "null", "x"}) {
    INFO("body '" << body << "'");
    const HttpResult result = api.Send("POST", "/api/runs/999999/cancel", body);
    CheckErrorShape(result, 400, "INVALID_ARGUMENT");
    CHECK(Json::parse(result.body)["error"]["message"] == "body: this route takes no body");
  }
}

TEST_CASE("plugin routes transcode to spine-plugins and answer as it does") {
  Constellation stack(std::vector<std::string>{"plugins", "gateway"});
  REQUIRE(stack.WaitHealthy("plugins", absl::Seconds(15)));
  REQUIRE(stack.WaitHealthy("gateway", absl::Seconds(15)));
  const std::string bearer = Bearer(stack, "1");
  // Until the plugin issue lands the service answers UNIMPLEMENTED naming the RPC; the route,
  // the auth check and the status mapping are the gateway's part.
  const HttpResult list =
      HttpRequestTo(stack.http_port(), "GET", "/api/plugins/list", {{"Authorization", bearer}});
  CHECK((list.status == 200 || list.status == 501));
  if (list.status == 501) {
    CheckErrorShape(list, 501, "UNIMPLEMENTED");
    CHECK(Json::parse(list.body)["error"]["message"].get<std::string>().find("ListPlugins") !=
          std::string::npos);
  }
  CheckErrorShape(HttpRequestTo(stack.http_port(), "GET", "/api/plugins/list"), 401,
                  "UNAUTHENTICATED");
}

}  // namespace spine::testing
