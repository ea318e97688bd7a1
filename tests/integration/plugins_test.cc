// spine-plugins through the real gateway and plugins binaries: hello-world over HTTP and gRPC,
// list and get, the error codes of API.md, and the hostile test plugin
// (tests/sandbox/plugins/hostile) failing every attack while hello-world keeps answering.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "google/protobuf/util/json_util.h"
#include "libs/auth/jwt.h"
#include "libs/core/clock.h"
#include "libs/rpc/channel.h"
#include "libs/rpc/error_info.h"
#include "libs/rpc/status_convert.h"
#include "nlohmann/json.hpp"
#include "spine/v1/plugins.grpc.pb.h"
#include "spine/v1/storage.grpc.pb.h"
#include "tests/integration/constellation.h"
#include "tests/integration/storage_client.h"
#include "tests/support/child_process.h"
#include "tests/support/http_client.h"

namespace spine::testing {
namespace {

using Json = nlohmann::json;

std::string Bearer(const Constellation& stack) {
  EnsureUserIds(stack, "7");  // the gateway refuses tokens of users that do not exist
  JwtSigner signer(*Ed25519PrivateKey::FromPem(stack.private_key_pem()), RealClock::Instance());
  return "Bearer " + *signer.Sign("7", "user7", "user");
}

HttpResult Invoke(const Constellation& stack, const std::string& plugin, const Json& body) {
  return HttpRequestTo(stack.http_port(), "POST", "/api/plugins/" + plugin + "/invoke",
                       {{"Authorization", Bearer(stack)}, {"Content-Type", "application/json"}},
                       body.dump());
}

HttpResult Get(const Constellation& stack, const std::string& path) {
  return HttpRequestTo(stack.http_port(), "GET", path, {{"Authorization", Bearer(stack)}});
}

std::string Reason(const HttpResult& result) {
  const Json body = Json::parse(result.body, nullptr, false);
  if (!body.is_object() || !body.contains("error")) return "";
  return body["error"]["details"][0]["reason"].get<std::string>();
}

void HelloWorldStillAnswers(const Constellation& stack) {
  const HttpResult hello = Invoke(stack, "hello-world", {{"input", {{"name", "Ada"}}}});
  REQUIRE(hello.status == 200);
  CHECK(Json::parse(hello.body)["output"]["greeting"] == "Hello, Ada!");
}

std::string PluginState(const Constellation& stack, const std::string& name) {
  const HttpResult list = Get(stack, "/api/plugins/list");
  if (list.status != 200) return "";
  const Json parsed = Json::parse(list.body);  // a named value: the loop refers into it
  for (const Json& plugin : parsed["plugins"]) {
    if (plugin["name"] == name) return plugin["state"].get<std::string>();
  }
  return "";
}

// A plugins dir with the shipped examples and the hostile test plugin side by side.
std::string PluginsDirWithHostile(const TempDir& dir) {
  std::string plugins = dir.path() + "/plugins";
  REQUIRE(mkdir(plugins.c_str(), 0755) == 0);
  for (const char* name : {"hello-world", "word-count", "uppercase"}) {
    REQUIRE(symlink((std::string(SPINE_SOURCE_DIR "/plugins/") + name).c_str(),
                    (plugins + "/" + name).c_str()) == 0);
  }
  REQUIRE(symlink(SPINE_SOURCE_DIR "/tests/sandbox/plugins/hostile",
                  (plugins + "/hostile").c_str()) == 0);
  return plugins;
}

void StartStack(Constellation& stack) {
  for (const char* service : {"storage", "plugins", "gateway"}) {
    INFO(service << ": " << stack.Log(service));
    REQUIRE(stack.WaitHealthy(service, absl::Seconds(15)));
  }
}

}  // namespace

TEST_CASE("hello-world runs through HTTP and gRPC, and list, get and the errors follow API.md") {
  Constellation stack(std::vector<std::string>{"storage", "plugins", "gateway"});
  StartStack(stack);

  const HttpResult hello = Invoke(stack, "hello-world", {{"input", {{"name", "Ada"}}}});
  INFO(hello.body << stack.Log("plugins"));
  REQUIRE(hello.status == 200);
  const Json answer = Json::parse(hello.body);
  CHECK(answer["output"] == Json{{"greeting", "Hello, Ada!"}});
  CHECK(answer.contains("durationMs"));
  CHECK(answer["logs"].is_array());

  auto stub =
      spine::v1::PluginService::NewStub(rpc::MakeChannel(stack.GrpcAddress("plugins"), 4 << 20));
  spine::v1::InvokePluginRequest request;
  request.set_name("hello-world");
  REQUIRE(
      google::protobuf::util::JsonStringToMessage(R"({"name":"Grace"})", request.mutable_input())
          .ok());
  spine::v1::InvokePluginResponse response;
  auto context = rpc::MakeClientContext(absl::Seconds(10));
  context->AddMetadata("authorization", Bearer(stack));
  const grpc::Status status = stub->InvokePlugin(context.get(), request, &response);
  INFO(status.error_message());
  REQUIRE(status.ok());
  CHECK(response.output().struct_value().fields().at("greeting").string_value() == "Hello, Grace!");
  spine::v1::InvokePluginResponse unauthenticated;
  auto anonymous = rpc::MakeClientContext(absl::Seconds(10));
  CHECK(stub->InvokePlugin(anonymous.get(), request, &unauthenticated).error_code() ==
        grpc::StatusCode::UNAUTHENTICATED);

  const HttpResult list = Get(stack, "/api/plugins/list");
  REQUIRE(list.status == 200);
  const Json plugins = Json::parse(list.body)["plugins"];
  REQUIRE(plugins.size() == 3);
  CHECK(plugins[0]["name"] == "hello-world");
  CHECK(plugins[0]["state"] == "READY");
  CHECK(plugins[0]["permissions"]["limits"]["timeoutMs"] == 5000);
  CHECK(plugins[1]["name"] == "uppercase");
  CHECK(plugins[2]["name"] == "word-count");
  const HttpResult got = Get(stack, "/api/plugins/word-count");
  REQUIRE(got.status == 200);
  CHECK(Json::parse(got.body)["manifest"]["entry"] == "index.js");

  const HttpResult counted =
      Invoke(stack, "word-count", {{"input", {{"text", "a b c\nd"}}}, {"timeoutMs", 3000}});
  REQUIRE(counted.status == 200);
  CHECK(Json::parse(counted.body)["output"] == Json{{"words", 4}, {"characters", 7}, {"lines", 2}});

  const HttpResult unknown = Invoke(stack, "nope", {{"input", 1}});
  CHECK(unknown.status == 404);
  CHECK(Reason(unknown) == "PLUGIN_NOT_FOUND");
  CHECK(Get(stack, "/api/plugins/nope").status == 404);
  CHECK(Invoke(stack, "hello-world", {{"input", 1}, {"timeoutMs", 60001}}).status == 400);
  CHECK(Invoke(stack, "hello-world", {{"input", std::string(size_t{300} * 1024, 'x')}}).status ==
        400);
  CHECK(HttpRequestTo(stack.http_port(), "POST", "/api/plugins/hello-world/invoke",
                      {{"Content-Type", "application/json"}}, R"({"input":{}})")
            .status == 401);
  const HttpResult thrown = Invoke(stack, "uppercase", {{"input", {{"text", 5}}}});
  CHECK(thrown.status == 502);
  CHECK(Reason(thrown) == "PLUGIN_ERROR");

  // Every invocation is in the audit log in spine-storage, written by spine-plugins.
  auto storage =
      spine::v1::StorageService::NewStub(rpc::MakeChannel(stack.GrpcAddress("storage"), 4 << 20));
  JwtSigner signer(*Ed25519PrivateKey::FromPem(stack.private_key_pem()), RealClock::Instance());
  const std::string admin = "Bearer " + *signer.Sign("1", "admin", "admin");
  std::vector<spine::v1::AuditEvent> events;
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (absl::Now() < give_up) {
    events.clear();
    spine::v1::ListAuditEventsRequest list_events;
    spine::v1::ListAuditEventsResponse listed;
    auto admin_context = rpc::MakeClientContext(absl::Seconds(5));
    admin_context->AddMetadata("authorization", admin);
    REQUIRE(storage->ListAuditEvents(admin_context.get(), list_events, &listed).ok());
    for (const auto& event : listed.events()) {
      if (event.action() == "plugins.invoke") events.push_back(event);
    }
    if (events.size() >= 4) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  REQUIRE(events.size() == 4);  // hello-world twice, word-count, uppercase (the last first)
  CHECK(events[0].service() == "plugins");
  CHECK(events[0].target() == "plugin:uppercase");
  CHECK(events[0].outcome() == "error");
  CHECK(events[0].details().fields().at("reason").string_value() == "PLUGIN_ERROR");
  CHECK(events[1].target() == "plugin:word-count");
  CHECK(events[1].outcome() == "ok");
  CHECK(events[1].details().fields().at("outputBytes").number_value() > 0);
}

TEST_CASE("hostile plugin attacks fail through the real service and hello-world carries on") {
  TempDir dir;
  Constellation stack(std::vector<std::string>{"storage", "plugins", "gateway"},
                      {{"SPINE_PLUGINS_DIR", PluginsDirWithHostile(dir)},
                       {"SPINE_PLUGINS_BREAKER_CRASHES", "1000"},
                       {"SPINE_RATE_LIMIT_PER_MINUTE", "100000"}});
  StartStack(stack);

  // The stack's own secrets sit beside its data dir: the JWT signing key, the service tokens.
  const std::string secrets = stack.data_dir() + "/..";
  for (const std::string& path :
       {std::string("/etc/passwd"), std::string("/etc/shadow"), stack.data_dir() + "/spine.db",
        secrets + "/jwt_private.pem", secrets + "/service_token_plugins"}) {
    INFO(path);
    const HttpResult read =
        Invoke(stack, "hostile", {{"input", {{"attack", "readFile"}, {"path", path}}}});
    REQUIRE(read.status == 200);
    CHECK(Json::parse(read.body)["output"]["result"] != "ok");
  }
  // Its own environment holds nothing of the host's, and no secret.
  const HttpResult environ = Invoke(
      stack, "hostile", {{"input", {{"attack", "readFile"}, {"path", "/proc/self/environ"}}}});
  REQUIRE(environ.status == 200);
  CHECK(environ.body.find("SPINE_") == std::string::npos);
  const int port = FreeLoopbackPort();
  const HttpResult connect =
      Invoke(stack, "hostile", {{"input", {{"attack", "connect"}, {"port", port}}}});
  REQUIRE(connect.status == 200);
  CHECK(Json::parse(connect.body)["output"]["result"] != "connected");
  const HttpResult gateway =
      Invoke(stack, "hostile", {{"input", {{"attack", "connect"}, {"port", stack.http_port()}}}});
  REQUIRE(gateway.status == 200);
  CHECK(Json::parse(gateway.body)["output"]["result"] != "connected");
  const HttpResult bomb = Invoke(stack, "hostile", {{"input", {{"attack", "forkBomb"}}}});
  REQUIRE(bomb.status == 200);
  CHECK(Json::parse(bomb.body)["output"]["started"].get<int>() < 200);
  HelloWorldStillAnswers(stack);

  struct Case {
    const char* attack;
    int status;
    const char* reason;
  };
  for (const Case c :
       {Case{"memoryBomb", 502, "PLUGIN_CRASHED"}, Case{"spin", 504, ""},
        Case{"exit", 502, "PLUGIN_CRASHED"}, Case{"garbage", 502, "PLUGIN_BAD_OUTPUT"},
        Case{"flood", 502, "PLUGIN_BAD_OUTPUT"}}) {
    INFO(c.attack);
    const HttpResult result =
        Invoke(stack, "hostile", {{"input", {{"attack", c.attack}}}, {"timeoutMs", 1500}});
    INFO(result.body);
    CHECK(result.status == c.status);
    if (c.reason[0] != '\0') CHECK(Reason(result) == c.reason);
    HelloWorldStillAnswers(stack);
  }

  const HttpResult status = HttpRequestTo(stack.http_port(), "GET", "/status");
  REQUIRE(status.status == 200);
  CHECK(Json::parse(status.body)["pluginSandboxAlive"] == true);
}

TEST_CASE("a plugin that keeps crashing is disabled, then half-open, then ready again") {
  TempDir dir;
  Constellation stack(std::vector<std::string>{"storage", "plugins", "gateway"},
                      {{"SPINE_PLUGINS_DIR", PluginsDirWithHostile(dir)},
                       {"SPINE_PLUGINS_BREAKER_OPEN_MS", "1500"},
                       {"SPINE_RATE_LIMIT_PER_MINUTE", "100000"}});
  StartStack(stack);
  for (int i = 0; i < 5; ++i) {
    const HttpResult crash = Invoke(stack, "hostile", {{"input", {{"attack", "exit"}}}});
    CHECK(crash.status == 502);
  }
  const HttpResult refused = Invoke(stack, "hostile", {{"input", {{"attack", "echo"}}}});
  CHECK(refused.status == 503);
  CHECK(Reason(refused) == "PLUGIN_DISABLED");
  CHECK(refused.headers.count("retry-after") == 1);
  CHECK(PluginState(stack, "hostile") == "DISABLED");
  HelloWorldStillAnswers(stack);  // other plugins are not affected

  // Polls the state the breaker shows once its open period is over (no push channel exists).
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (PluginState(stack, "hostile") == "DISABLED" && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  CHECK(PluginState(stack, "hostile") == "DEGRADED");
  const HttpResult trial = Invoke(stack, "hostile", {{"input", {{"attack", "echo"}}}});
  CHECK(trial.status == 200);
  CHECK(PluginState(stack, "hostile") == "READY");
}

TEST_CASE("when the sandbox self-test fails, invocations are 503 and /status says so") {
  // A node that cannot be started fails the canary, as a kernel without Landlock would.
  Constellation stack(std::vector<std::string>{"storage", "plugins", "gateway"},
                      {{"SPINE_PLUGINS_NODE", "/nonexistent/node"}});
  StartStack(stack);
  const HttpResult refused = Invoke(stack, "hello-world", {{"input", {{"name", "Ada"}}}});
  CHECK(refused.status == 503);
  CHECK(Reason(refused) == "SANDBOX_UNAVAILABLE");
  CHECK(refused.headers.count("retry-after") == 1);
  const HttpResult status = HttpRequestTo(stack.http_port(), "GET", "/status");
  REQUIRE(status.status == 200);
  const Json body = Json::parse(status.body);
  CHECK(body["pluginSandboxAlive"] == false);
  CHECK(body["status"] == "degraded");
  CHECK(Get(stack, "/api/plugins/list").status == 200);  // the catalogue is still there
}

}  // namespace spine::testing
