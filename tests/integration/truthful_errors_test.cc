// Issue 16, "Errors that tell the truth", through HTTP against the real services: a caller's own
// timeout named as such, a body that contradicts the path, a reused idempotency key (and the
// Idempotency-Key header), plugin failures with a meaningful gRPC code and their logs, a model
// backend that cannot be reached in /status and /readyz and named in its errors, /metrics that
// promtool accepts, CORS by allow-list, camelCase path parameters and a plugin named "list".
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "google/protobuf/util/json_util.h"
#include "libs/auth/jwt.h"
#include "libs/core/clock.h"
#include "libs/rpc/channel.h"
#include "nlohmann/json.hpp"
#include "spine/v1/plugins.grpc.pb.h"
#include "tests/integration/constellation.h"
#include "tests/integration/storage_client.h"
#include "tests/support/child_process.h"
#include "tests/support/http_client.h"
#include "tests/support/poll.h"
#include "tests/support/shell.h"

namespace spine::testing {
namespace {

using Json = nlohmann::json;

std::string Bearer(const Constellation& stack, const std::string& user = "7") {
  EnsureUserIds(stack, user);  // the gateway refuses tokens of users that do not exist
  JwtSigner signer(*Ed25519PrivateKey::FromPem(stack.private_key_pem()), RealClock::Instance());
  return "Bearer " + *signer.Sign(user, "user" + user, "user");
}

HttpResult Post(const Constellation& stack, const std::string& path, const Json& body,
                std::map<std::string, std::string> headers = {}) {
  headers.emplace("Authorization", Bearer(stack));
  headers.emplace("Content-Type", "application/json");
  return HttpRequestTo(stack.http_port(), "POST", path, headers, body.dump());
}

HttpResult Get(const Constellation& stack, const std::string& path) {
  return HttpRequestTo(stack.http_port(), "GET", path, {{"Authorization", Bearer(stack)}});
}

// The error object of an error response, or null.
Json ErrorOf(const HttpResult& result) {
  const Json body = Json::parse(result.body, nullptr, false);
  if (!body.is_object() || !body.contains("error")) return nullptr;
  return body["error"];
}

// A response header (lower-case name), empty when absent.
std::string HeaderOf(const HttpResult& result, const std::string& name) {
  const auto it = result.headers.find(name);
  return it == result.headers.end() ? "" : it->second;
}

std::string Reason(const HttpResult& result) {
  const Json error = ErrorOf(result);
  return error.is_null() ? "" : error["details"][0]["reason"].get<std::string>();
}

void StartServices(Constellation& stack, const std::vector<std::string>& services) {
  for (const std::string& service : services) {
    INFO(service << ": " << stack.Log(service));
    REQUIRE(stack.WaitHealthy(service, absl::Seconds(20)));
  }
}

// A port on 127.0.0.1 that nothing listens on: bound, then closed.
int ClosedPort() {
  const int port = FreeLoopbackPort();
  REQUIRE(port > 0);
  return port;
}

// A plugins folder in `dir`: hello-world and uppercase, the sandbox suite's "hostile", "chatty"
// (logs a line, then throws) and "list" (a name the gateway could never route to).
std::string WritePlugins(TempDir& dir) {
  // The sandbox's user must be able to walk to the plugins written here.
  REQUIRE(chmod(dir.path().c_str(), 0755) == 0);
  std::string plugins = dir.path() + "/plugins";
  REQUIRE(mkdir(plugins.c_str(), 0755) == 0);
  for (const char* name : {"hello-world", "uppercase"}) {
    REQUIRE(symlink((std::string(SPINE_SOURCE_DIR "/plugins/") + name).c_str(),
                    (plugins + "/" + name).c_str()) == 0);
  }
  REQUIRE(symlink(SPINE_SOURCE_DIR "/tests/sandbox/plugins/hostile",
                  (plugins + "/hostile").c_str()) == 0);
  // Logs a line, then throws: the line must come back with the error.
  REQUIRE(mkdir((plugins + "/chatty").c_str(), 0755) == 0);
  dir.WriteFile("plugins/chatty/plugin.json",
                R"({"name": "chatty", "version": "1.0.0", "description": "logs, then throws",
                    "runtime": "node", "entry": "index.js"})",
                0644);
  dir.WriteFile("plugins/chatty/index.js",
                "module.exports = async () => { console.log('looking for input.text');"
                " throw new Error('no text'); };\n",
                0644);
  // A plugin named "list" could never be read at /api/plugins/list: refused, with the reason.
  REQUIRE(mkdir((plugins + "/list").c_str(), 0755) == 0);
  dir.WriteFile("plugins/list/plugin.json",
                R"({"name": "list", "version": "1.0.0", "runtime": "node", "entry": "index.js"})",
                0644);
  dir.WriteFile("plugins/list/index.js", "module.exports = async () => 1;\n", 0644);
  return plugins;
}

}  // namespace

TEST_CASE("plugin errors say what happened: own timeout, meaningful code, logs, path clash") {
  TempDir dir;
  const std::string plugins = WritePlugins(dir);
  Constellation stack(std::vector<std::string>{"storage", "plugins", "gateway"},
                      {{"SPINE_PLUGINS_DIR", plugins}, {"SPINE_RATE_LIMIT_PER_MINUTE", "100000"}});
  StartServices(stack, {"storage", "plugins", "gateway"});

  SECTION("a body field that collides with a path parameter is 400, not dropped") {
    const HttpResult clash = Post(stack, "/api/plugins/hello-world/invoke", {{"name", "Ada"}});
    CHECK(clash.status == 400);
    CHECK(Reason(clash) == "INVALID_ARGUMENT");
    CHECK(
        absl::StrContains(ErrorOf(clash)["message"].get<std::string>(), "name: given in the body"));
    // The same value twice is no contradiction.
    CHECK(Post(stack, "/api/plugins/hello-world/invoke",
               {{"name", "hello-world"}, {"input", {{"name", "Ada"}}}})
              .status == 200);
  }

  SECTION("the caller's own timeoutMs that runs out is named, not an upstream timeout") {
    const HttpResult slow =
        Post(stack, "/api/plugins/hostile/invoke",
             {{"input", {{"attack", "sleep"}, {"ms", 5000}}}, {"timeoutMs", 1000}});
    CHECK(slow.status == 504);
    CHECK(Reason(slow) == "PLUGIN_TIMEOUT");
    CHECK(ErrorOf(slow)["message"] == "plugin 'hostile' exceeded its 1000 ms timeout");
    CHECK(ErrorOf(slow)["details"][0]["metadata"]["timeoutMs"] == "1000");
  }

  SECTION("a plugin failure is 502 with a meaningful gRPC code, and keeps its logs") {
    const HttpResult thrown = Post(stack, "/api/plugins/chatty/invoke", {{"input", 1}});
    CHECK(thrown.status == 502);
    CHECK(Reason(thrown) == "PLUGIN_ERROR");
    CHECK(ErrorOf(thrown)["status"] == "INTERNAL");
    CHECK(ErrorOf(thrown)["details"][0]["metadata"]["logs"] == "looking for input.text");

    // Over gRPC too: INTERNAL, not UNKNOWN.
    auto stub =
        spine::v1::PluginService::NewStub(rpc::MakeChannel(stack.GrpcAddress("plugins"), 4 << 20));
    spine::v1::InvokePluginRequest request;
    request.set_name("uppercase");
    REQUIRE(google::protobuf::util::JsonStringToMessage(R"({"text": 5})", request.mutable_input())
                .ok());
    spine::v1::InvokePluginResponse response;
    auto context = rpc::MakeClientContext(absl::Seconds(10));
    context->AddMetadata("authorization", Bearer(stack));
    const grpc::Status status = stub->InvokePlugin(context.get(), request, &response);
    CHECK(status.error_code() == grpc::StatusCode::INTERNAL);
  }

  SECTION("a plugin named list is refused with the reason, and list still lists") {
    const HttpResult list = Get(stack, "/api/plugins/list");
    INFO(list.body);
    REQUIRE(list.status == 200);
    bool found = false;
    const Json listed = Json::parse(list.body);  // named: the loop refers into it
    for (const Json& plugin : listed["plugins"]) {
      if (plugin["name"] != "list") continue;
      found = true;
      CHECK(plugin["state"] == "FAILED");
      CHECK(absl::StrContains(plugin["loadError"].get<std::string>(), "reserved"));
    }
    CHECK(found);
  }
}

TEST_CASE("generations, runs, readiness and metrics tell the truth on the whole stack") {
  TempDir dir;
  const std::string down_url = absl::StrCat("http://127.0.0.1:", ClosedPort());
  const std::string models = dir.WriteFile("models.json",
                                           absl::StrCat(R"({"models": [
      {"name": "stub", "backend": "stub", "maxConcurrency": 8, "timeoutMs": 60000},
      {"name": "slow", "backend": "stub", "maxConcurrency": 4, "timeoutMs": 60000,
       "stub": {"firstTokenMs": 4000, "tokenMs": 0}},
      {"name": "short", "backend": "stub", "maxConcurrency": 4, "timeoutMs": 1000,
       "stub": {"firstTokenMs": 4000, "tokenMs": 0}},
      {"name": "down", "backend": "ollama", "baseUrl": ")",
                                                        down_url, R"("}]})"),
                                           0644);
  Constellation stack({std::begin(Constellation::kServices), std::end(Constellation::kServices)},
                      {{"SPINE_LLM_MODELS_FILE", models},
                       {"SPINE_LLM_BACKEND_CHECK_MS", "200"},
                       {"SPINE_RATE_LIMIT_PER_MINUTE", "100000"}});
  StartServices(stack, {std::begin(Constellation::kServices), std::end(Constellation::kServices)});
  // Ready (executors heard, first admin made); "down" only makes it degraded.
  REQUIRE(stack.WaitForHttpStatus("/readyz", 200, absl::Seconds(30)) == 200);

  SECTION("a generation past the caller's timeoutMs says so") {
    const HttpResult late = Post(stack, "/api/llm/generate",
                                 {{"model", "slow"}, {"prompt", "take long"}, {"timeoutMs", 1500}});
    CHECK(late.status == 504);
    CHECK(Reason(late) == "GENERATION_TIMEOUT");
    CHECK(ErrorOf(late)["message"] == "generation exceeded timeoutMs 1500");
    CHECK(ErrorOf(late)["details"][0]["metadata"]["model"] == "slow");
    // The model's own limit is named as the model's.
    const HttpResult capped =
        Post(stack, "/api/llm/generate", {{"model", "short"}, {"prompt", "take long"}});
    CHECK(capped.status == 504);
    CHECK(Reason(capped) == "GENERATION_TIMEOUT");
    CHECK(ErrorOf(capped)["message"] ==
          "model 'short' exceeded its 1000 ms timeout (timeoutMs in the models file)");
  }

  SECTION("an llm step past its timeoutMs in a run says so") {
    const Json definition = {
        {"schemaVersion", 1},
        {"steps", Json::array({{{"id", "draft"},
                                {"llm", {{"model", "slow"}, {"prompt", "take long"}}},
                                {"timeoutMs", 1000},
                                {"retry", {{"maxAttempts", 1}}}}})}};
    const HttpResult answer =
        Post(stack, "/api/runs",
             {{"definition", definition}, {"input", Json::object()}, {"waitMs", 20000}});
    INFO(answer.body);
    REQUIRE(answer.status == 200);
    const Json error = Json::parse(answer.body)["steps"][0]["error"];
    CHECK(error["reason"] == "GENERATION_TIMEOUT");
    CHECK(error["message"] == "generation exceeded timeoutMs 1000");
  }

  SECTION("an unreachable model backend makes /status and /readyz degraded, naming it") {
    const Json status = PollFor(
        [&] {
          return Json::parse(HttpRequestTo(stack.http_port(), "GET", "/status").body, nullptr,
                             false);
        },
        [](const Json& seen) {
          return seen.is_object() && seen.contains("unreachableModels") &&
                 seen["unreachableModels"].contains("down");
        },
        absl::Seconds(20), absl::Milliseconds(200));
    INFO(status.dump());
    CHECK(status["status"] == "degraded");
    REQUIRE(status["unreachableModels"].contains("down"));
    CHECK(absl::StrContains(status["unreachableModels"]["down"].get<std::string>(), "127.0.0.1"));
    CHECK_FALSE(status["unreachableModels"].contains("stub"));

    const HttpResult ready = HttpRequestTo(stack.http_port(), "GET", "/readyz");
    INFO(ready.body);
    CHECK(ready.status == 200);
    const Json readyz = Json::parse(ready.body);
    REQUIRE(readyz.contains("degraded"));
    CHECK(readyz["status"] == "degraded");
    CHECK(readyz["degraded"] == Json::array({"model:down"}));

    // And the backend's error names the model.
    const HttpResult refused =
        Post(stack, "/api/llm/generate", {{"model", "down"}, {"prompt", "hi"}});
    CHECK(refused.status == 503);
    CHECK(Reason(refused) == "BACKEND_UNAVAILABLE");
    CHECK(absl::StartsWith(ErrorOf(refused)["message"].get<std::string>(), "model 'down': "));
    CHECK(ErrorOf(refused)["details"][0]["metadata"]["model"] == "down");
  }

  SECTION("an idempotency key reused for another request is 422; the header works too") {
    const Json definition = Json::parse(R"({"schemaVersion": 1, "steps": [
        {"id": "draft", "llm": {"model": "stub", "prompt": "Say {{input.text}}"}}]})");
    const HttpResult created = PollFor(  // until spine-tasks has heard the executors
        [&] {
          return Post(stack, "/api/pipelines", {{"name", "say"}, {"definition", definition}});
        },
        [](const HttpResult& seen) { return seen.status == 201; }, absl::Seconds(20),
        absl::Milliseconds(200));
    REQUIRE(created.status == 201);
    const std::string runs =
        "/api/pipelines/" + Json::parse(created.body)["id"].get<std::string>() + "/runs";

    const HttpResult first =
        Post(stack, runs, {{"input", {{"text", "a"}}}, {"idempotencyKey", "k1"}});
    REQUIRE((first.status == 202 || first.status == 200));
    const Json first_run = Json::parse(first.body);
    const HttpResult again =
        Post(stack, runs, {{"input", {{"text", "a"}}}, {"idempotencyKey", "k1"}});
    REQUIRE((again.status == 202 || again.status == 200));
    CHECK(Json::parse(again.body)["id"] == first_run["id"]);

    const HttpResult other =
        Post(stack, runs, {{"input", {{"text", "b"}}}, {"idempotencyKey", "k1"}});
    CHECK(other.status == 422);
    CHECK(Reason(other) == "IDEMPOTENCY_KEY_REUSED");
    CHECK(absl::StrContains(ErrorOf(other)["message"].get<std::string>(), "'k1'"));
    CHECK(ErrorOf(other)["details"][0]["metadata"]["idempotencyKey"] == "k1");

    // The header is the same key as the body field.
    const HttpResult by_header =
        Post(stack, runs, {{"input", {{"text", "a"}}}}, {{"Idempotency-Key", "k1"}});
    REQUIRE((by_header.status == 202 || by_header.status == 200));
    CHECK(Json::parse(by_header.body)["id"] == first_run["id"]);
    const HttpResult header_other =
        Post(stack, runs, {{"input", {{"text", "c"}}}}, {{"Idempotency-Key", "k1"}});
    CHECK(header_other.status == 422);
    const HttpResult both =
        Post(stack, runs, {{"input", {{"text", "a"}}}, {"idempotencyKey", "k1"}},
             {{"Idempotency-Key", "k2"}});
    CHECK(both.status == 400);
    CHECK(absl::StrContains(ErrorOf(both)["message"].get<std::string>(), "Idempotency-Key"));
    // A route without idempotency refuses the header rather than run twice on a retry.
    CHECK(Post(stack, "/api/runs", {{"definition", definition}, {"input", {{"text", "a"}}}},
               {{"Idempotency-Key", "k3"}})
              .status == 400);
  }

  SECTION("promtool check metrics passes on /metrics") {
    const HttpResult metrics = HttpRequestTo(stack.http_port(), "GET", "/metrics");
    REQUIRE(metrics.status == 200);
    if (std::system("command -v promtool >/dev/null 2>&1") != 0) {
      // CI installs it (scripts/install-deps): there its absence is a failure, not a skip.
      if (std::getenv("CI") != nullptr) FAIL("promtool is not installed; run scripts/install-deps");
      WARN("promtool is not installed; skipping (scripts/install-deps installs it)");
      return;
    }
    const std::string file = dir.WriteFile("metrics.txt", metrics.body, 0644);
    const ShellResult checked = RunShell("promtool check metrics < " + ShellQuote(file));
    INFO(checked.output);
    CHECK(checked.exit_code == 0);
    CHECK(checked.output.empty());
  }
}

TEST_CASE("CORS: listed origins get their headers and preflights, others get none") {
  Constellation stack(std::vector<std::string>{"storage", "gateway"},
                      {{"SPINE_CORS_ORIGINS", "http://app.example:5173, https://spine.example"}});
  StartServices(stack, {"storage", "gateway"});
  const int port = stack.http_port();

  const HttpResult preflight = HttpRequestTo(port, "OPTIONS", "/api/thoughts",
                                             {{"Origin", "http://app.example:5173"},
                                              {"Access-Control-Request-Method", "POST"},
                                              {"Access-Control-Request-Headers", "authorization"}});
  CHECK(preflight.status == 204);
  CHECK(HeaderOf(preflight, "access-control-allow-origin") == "http://app.example:5173");
  CHECK(absl::StrContains(HeaderOf(preflight, "access-control-allow-methods"), "POST"));
  CHECK(absl::StrContains(HeaderOf(preflight, "access-control-allow-headers"), "Authorization"));
  CHECK(absl::StrContains(HeaderOf(preflight, "access-control-allow-headers"), "Idempotency-Key"));

  const HttpResult stranger = HttpRequestTo(
      port, "OPTIONS", "/api/thoughts",
      {{"Origin", "https://evil.example"}, {"Access-Control-Request-Method", "POST"}});
  CHECK(stranger.status == 403);
  CHECK(Reason(stranger) == "CORS_ORIGIN_NOT_ALLOWED");
  CHECK(stranger.headers.count("access-control-allow-origin") == 0);

  const HttpResult allowed =
      HttpRequestTo(port, "GET", "/api/thoughts", {{"Origin", "https://spine.example"}});
  CHECK(allowed.status == 401);  // no token; the browser may still read why
  CHECK(HeaderOf(allowed, "access-control-allow-origin") == "https://spine.example");
  CHECK(absl::StrContains(HeaderOf(allowed, "access-control-expose-headers"), "X-Request-Id"));
  const HttpResult other =
      HttpRequestTo(port, "GET", "/healthz", {{"Origin", "https://evil.example"}});
  CHECK(other.status == 200);
  CHECK(other.headers.count("access-control-allow-origin") == 0);

  // None by default.
  Constellation plain(std::vector<std::string>{"gateway"});
  REQUIRE(plain.WaitHealthy("gateway", absl::Seconds(20)));
  const HttpResult unlisted =
      HttpRequestTo(plain.http_port(), "GET", "/healthz", {{"Origin", "https://spine.example"}});
  CHECK(unlisted.status == 200);
  CHECK(unlisted.headers.count("access-control-allow-origin") == 0);
  CHECK(HttpRequestTo(
            plain.http_port(), "OPTIONS", "/api/thoughts",
            {{"Origin", "https://spine.example"}, {"Access-Control-Request-Method", "POST"}})
            .headers.count("access-control-allow-origin") == 0);
}

TEST_CASE("path parameters are camelCase in the OpenAPI document and in errors") {
  Constellation stack(std::vector<std::string>{"storage", "gateway"});
  StartServices(stack, {"storage", "gateway"});
  const HttpResult document = HttpRequestTo(stack.http_port(), "GET", "/openapi.json");
  REQUIRE(document.status == 200);
  const Json paths = Json::parse(document.body)["paths"];
  CHECK_FALSE(paths.contains("/api/pipelines/{pipeline_id}/runs"));
  REQUIRE(paths.contains("/api/pipelines/{pipelineId}/runs"));
  CHECK(paths["/api/pipelines/{pipelineId}/runs"]["post"]["parameters"][0]["name"] == "pipelineId");

  const HttpResult bad = Post(stack, "/api/pipelines/seven/runs", {{"input", 1}});
  CHECK(bad.status == 400);
  CHECK(absl::StartsWith(ErrorOf(bad)["message"].get<std::string>(), "pipelineId: "));
}

TEST_CASE("a failed plugin step in a run names its own timeout and keeps the plugin's logs") {
  TempDir dir;
  const std::string plugins = WritePlugins(dir);
  const std::vector<std::string> services{"storage", "plugins", "tasks", "gateway"};
  Constellation stack(services,
                      {{"SPINE_PLUGINS_DIR", plugins}, {"SPINE_RATE_LIMIT_PER_MINUTE", "100000"}});
  StartServices(stack, services);

  // A one-off run of one plugin step, tried once, answered when it ends.
  const auto run = [&stack](const Json& plugin_step) {
    const Json definition = {{"schemaVersion", 1},
                             {"steps", Json::array({{{"id", "only"},
                                                     {"plugin", plugin_step},
                                                     {"timeoutMs", 1000},
                                                     {"retry", {{"maxAttempts", 1}}}}})}};
    HttpResult answer;
    // Until spine-tasks has heard spine-plugins' advertisement.
    PollUntil(
        [&] {
          answer = Post(stack, "/api/runs",
                        {{"definition", definition}, {"input", Json::object()}, {"waitMs", 20000}});
          return answer.status != 400;
        },
        absl::Seconds(20), absl::Milliseconds(200));
    INFO(answer.body);
    REQUIRE(answer.status == 200);
    const Json body = Json::parse(answer.body);
    CHECK(body["state"] == "FAILED");
    return body["steps"][0]["error"];
  };

  SECTION("a plugin that throws: the step's error carries the lines it logged") {
    const Json error = run({{"name", "chatty"}, {"input", Json::object()}});
    INFO(error.dump());
    CHECK(error["reason"] == "PLUGIN_ERROR");
    CHECK(error["logs"] == Json::array({"looking for input.text"}));
  }

  SECTION("a plugin past the step's timeoutMs: named as the step's timeout") {
    const Json error = run({{"name", "hostile"}, {"input", {{"attack", "sleep"}, {"ms", 5000}}}});
    INFO(error.dump());
    CHECK(error["code"] == "DEADLINE_EXCEEDED");
    CHECK(error["reason"] == "PLUGIN_TIMEOUT");
    CHECK(error["message"] == "plugin 'hostile' exceeded its 1000 ms timeout");
  }
}

}  // namespace spine::testing
