// spine-plugins through the real gateway and plugins binaries: hello-world over HTTP and gRPC,
// list and get, the error codes of API.md, and the hostile test plugin
// (tests/sandbox/plugins/hostile) failing every attack while hello-world keeps answering: a
// worker burning CPU between calls is recycled, one user's flood or crashes do not lock the
// others out.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
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
#include "tests/support/poll.h"

namespace spine::testing {
namespace {

using Json = nlohmann::json;

// A user token for user `id` (created first: the gateway refuses tokens of unknown users).
std::string Bearer(const Constellation& stack, const std::string& id = "7") {
  EnsureUserIds(stack, id);
  JwtSigner signer(*Ed25519PrivateKey::FromPem(stack.private_key_pem()), RealClock::Instance());
  return "Bearer " + *signer.Sign(id, "user" + id, "user");
}

HttpResult Invoke(const Constellation& stack, const std::string& plugin, const Json& body,
                  const std::string& user = "7") {
  return HttpRequestTo(
      stack.http_port(), "POST", "/api/plugins/" + plugin + "/invoke",
      {{"Authorization", Bearer(stack, user)}, {"Content-Type", "application/json"}}, body.dump());
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

// The processes below `root` (spine-plugins: its workers) with the CPU time (utime + stime,
// in clock ticks) and state of each, read from /proc.
struct ProcessInfo {
  char state = '?';
  int64_t cpu_ticks = 0;
};
std::map<pid_t, ProcessInfo> DescendantsOf(pid_t root) {
  std::map<pid_t, pid_t> parent;
  std::map<pid_t, ProcessInfo> info;
  DIR* proc = opendir("/proc");
  REQUIRE(proc != nullptr);
  while (dirent* entry = readdir(proc)) {
    const pid_t pid = static_cast<pid_t>(std::strtol(entry->d_name, nullptr, 10));
    if (pid <= 0) continue;
    std::ifstream in("/proc/" + std::string(entry->d_name) + "/stat");
    std::stringstream text;
    text << in.rdbuf();
    const std::string stat = text.str();
    const size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;  // gone meanwhile
    std::istringstream fields(stat.substr(close + 2));
    std::string field;
    std::vector<std::string> values;
    while (fields >> field) values.push_back(field);
    if (values.size() < 13) continue;
    parent[pid] = static_cast<pid_t>(std::stol(values[1]));
    info[pid] = ProcessInfo{values[0][0], std::stoll(values[11]) + std::stoll(values[12])};
  }
  closedir(proc);
  std::map<pid_t, ProcessInfo> below;
  for (const auto& [pid, process] : info) {
    for (pid_t up = parent[pid]; up > 1; up = parent.count(up) ? parent[up] : 0) {
      if (up == root) {
        below[pid] = process;
        break;
      }
    }
  }
  return below;
}

int64_t TicksOf(const std::map<pid_t, ProcessInfo>& processes) {
  int64_t ticks = 0;
  for (const auto& [pid, process] : processes) ticks += process.cpu_ticks;
  return ticks;
}

void StartStack(Constellation& stack) {
  for (const char* service : {"storage", "plugins", "gateway"}) {
    INFO(service << ": " << stack.Log(service));
    REQUIRE(stack.WaitHealthy(service, absl::Seconds(15)));
  }
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

}  // namespace

#ifdef SPINE_HOSTILE_ADDON
TEST_CASE(
    "MPTCP, dlopen of written code, hard links and a full data dir fail through the service") {
  TempDir dir;
  REQUIRE(chmod(dir.path().c_str(), 0755) == 0);
  const std::string plugins = dir.path() + "/plugins";
  REQUIRE(mkdir(plugins.c_str(), 0755) == 0);
  REQUIRE(symlink(SPINE_SOURCE_DIR "/plugins/hello-world", (plugins + "/hello-world").c_str()) ==
          0);
  const std::string index = ReadAll(SPINE_SOURCE_DIR "/tests/sandbox/plugins/hostile/index.js");
  const std::string addon = ReadAll(SPINE_HOSTILE_ADDON);
  REQUIRE(!addon.empty());
  // hostile-net: the issue's plugin, any port declared, a native object in its folder.
  REQUIRE(mkdir((plugins + "/hostile-net").c_str(), 0755) == 0);
  dir.WriteFile("plugins/hostile-net/plugin.json",
                R"({"name":"hostile-net","version":"0.0.1","runtime":"node","entry":"index.js",)"
                R"("permissions":{"fs":{"write":["."]},"network":{"connectPorts":[443]},)"
                R"("limits":{"timeoutMs":20000,"memoryMB":64}}})",
                0644);
  dir.WriteFile("plugins/hostile-net/index.js", index, 0644);
  dir.WriteFile("plugins/hostile-net/addon.node", addon, 0644);
  // hostile: a hard link in its folder to a world-readable file elsewhere.
  const std::string secret = dir.WriteFile("secret", "host secret", 0644);
  REQUIRE(mkdir((plugins + "/hostile").c_str(), 0755) == 0);
  dir.WriteFile("plugins/hostile/plugin.json",
                ReadAll(SPINE_SOURCE_DIR "/tests/sandbox/plugins/hostile/plugin.json"), 0644);
  dir.WriteFile("plugins/hostile/index.js", index, 0644);
  REQUIRE(link(secret.c_str(), (plugins + "/hostile/linked.txt").c_str()) == 0);

  Constellation stack(std::vector<std::string>{"storage", "plugins", "gateway"},
                      {{"SPINE_PLUGINS_DIR", plugins},
                       {"SPINE_PLUGINS_DATA_QUOTA_MB", "1"},
                       {"SPINE_PLUGINS_BREAKER_CRASHES", "1000"},
                       {"SPINE_RATE_LIMIT_PER_MINUTE", "100000"}});
  StartStack(stack);
  // The sandbox's uid must be able to walk to its data dir, as with a real SPINE_DATA_DIR.
  REQUIRE(chmod((stack.data_dir() + "/..").c_str(), 0755) == 0);
  REQUIRE(chmod(stack.data_dir().c_str(), 0755) == 0);
  auto attack = [&](const std::string& plugin, const Json& input) {
    return Invoke(stack, plugin, {{"input", input}, {"timeoutMs", 20000}});
  };

  // MPTCP (and SCTP) to the gateway and to spine-storage's gRPC port.
  const std::string storage = stack.GrpcAddress("storage");
  const int storage_port = std::stoi(storage.substr(storage.rfind(':') + 1));
  for (const int port : {stack.http_port(), storage_port}) {
    for (const char* call : {"mptcp", "sctp"}) {
      INFO(call << " to " << port);
      const HttpResult r =
          attack("hostile-net", {{"attack", "native"}, {"call", call}, {"port", port}});
      REQUIRE(r.status == 200);
      CHECK(Json::parse(r.body)["output"]["result"] == "EPERM");
    }
  }
  // Pure JavaScript writes the object into its data dir and dlopen()s it.
  const std::string own = stack.data_dir() + "/plugins/hostile-net";
  const HttpResult loaded = attack("hostile-net", {{"attack", "dlopenWritten"},
                                                   {"object", absl::Base64Escape(addon)},
                                                   {"path", own + "/planted.node"},
                                                   {"call", "mptcp"},
                                                   {"port", stack.http_port()}});
  INFO(loaded.body);
  REQUIRE(loaded.status == 200);
  CHECK(Json::parse(loaded.body)["output"]["result"] == "refused");

  // The hard-linked plugin was refused at load, and is listed FAILED saying why; the others
  // loaded.
  const HttpResult linked =
      attack("hostile", {{"attack", "readFile"}, {"path", plugins + "/hostile/linked.txt"}});
  CHECK(linked.status == 503);
  CHECK(Reason(linked) == "PLUGIN_LOAD_FAILED");
  CHECK(absl::StrContains(linked.body, "has 2 hard links"));
  CHECK(linked.body.find("host secret") == std::string::npos);
  CHECK(PluginState(stack, "hostile") == "FAILED");
  CHECK(absl::StrContains(stack.Log("plugins"), "has 2 hard links"));

  // Over the 1 MiB quota: a clear error for that invocation, nothing else affected.
  const HttpResult filled = attack(
      "hostile-net",
      {{"attack", "fill"}, {"dir", own}, {"chunkKB", 64}, {"totalKB", 64 * 1024}, {"pauseMs", 5}});
  CHECK(filled.status == 429);
  CHECK(Reason(filled) == "PLUGIN_QUOTA_EXCEEDED");
  HelloWorldStillAnswers(stack);
  const HttpResult echo = attack("hostile-net", {{"attack", "echo"}, {"x", 1}});
  CHECK(echo.status == 200);
}
#endif

TEST_CASE("a plugin that cannot load is FAILED with its reason, and the others still work") {
  if (geteuid() != 0) {
    WARN("skipped: needs root to give a plugin folder to another user");
    return;
  }
  TempDir dir;
  REQUIRE(chmod(dir.path().c_str(), 0755) == 0);
  const std::string plugins = dir.path() + "/plugins";
  REQUIRE(mkdir(plugins.c_str(), 0755) == 0);
  REQUIRE(symlink(SPINE_SOURCE_DIR "/plugins/hello-world", (plugins + "/hello-world").c_str()) ==
          0);
  // The issue's plugin: a sound manifest in a folder of mode 0700 that belongs to another user,
  // so the sandbox's user (nobody) cannot enter it.
  REQUIRE(mkdir((plugins + "/locked").c_str(), 0755) == 0);
  dir.WriteFile("plugins/locked/plugin.json",
                R"({"name":"locked","version":"1.0.0","description":"cannot be read",)"
                R"("runtime":"node","entry":"index.js"})",
                0644);
  dir.WriteFile("plugins/locked/index.js", "module.exports = async () => 'unreachable';\n", 0644);
  REQUIRE(chmod((plugins + "/locked").c_str(), 0700) == 0);
  REQUIRE(chown((plugins + "/locked").c_str(), 4242, 4242) == 0);
  // One the loader refuses outright.
  REQUIRE(mkdir((plugins + "/broken").c_str(), 0755) == 0);
  dir.WriteFile("plugins/broken/plugin.json", R"({"name":"broken","colour":1})", 0644);

  Constellation stack(std::vector<std::string>{"storage", "plugins", "gateway"},
                      {{"SPINE_PLUGINS_DIR", plugins}});
  StartStack(stack);
  const std::string why =
      "entry: the plugin folder is not readable by the sandbox user 65534 (owner uid 4242, mode "
      "0700: Permission denied)";

  const HttpResult list = Get(stack, "/api/plugins/list");
  INFO(list.body << stack.Log("plugins"));
  REQUIRE(list.status == 200);
  const Json listed = Json::parse(list.body)["plugins"];
  REQUIRE(listed.size() == 3);
  CHECK(listed[0]["name"] == "broken");
  CHECK(listed[0]["state"] == "FAILED");
  CHECK(absl::StartsWith(listed[0]["loadError"].get<std::string>(), "plugin.json: "));
  CHECK(listed[1]["name"] == "hello-world");
  CHECK(listed[1]["state"] == "READY");
  CHECK(listed[1]["loadError"] == "");
  CHECK(listed[2]["name"] == "locked");
  CHECK(listed[2]["state"] == "FAILED");
  CHECK(listed[2]["version"] == "1.0.0");
  CHECK(listed[2]["loadError"] == why);

  const HttpResult got = Get(stack, "/api/plugins/locked");
  REQUIRE(got.status == 200);
  CHECK(Json::parse(got.body)["state"] == "FAILED");
  CHECK(Json::parse(got.body)["loadError"] == why);

  for (const char* name : {"locked", "broken"}) {
    INFO(name);
    const HttpResult invoked = Invoke(stack, name, {{"input", 1}});
    CHECK(invoked.status == 503);
    CHECK(Reason(invoked) == "PLUGIN_LOAD_FAILED");
    const std::string message = Json::parse(invoked.body)["error"]["message"];
    CHECK(absl::StartsWith(message, absl::StrCat("plugin '", name, "' could not be loaded: ")));
    if (std::string(name) == "locked") CHECK(absl::EndsWith(message, why));
    CHECK(invoked.body.find(dir.path()) == std::string::npos);  // no host path
  }
  HelloWorldStillAnswers(stack);
}

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
  // The audit writer sends in the background: poll storage (directly, not through the gateway).
  const std::vector<spine::v1::AuditEvent> events = PollFor(
      [&] {
        std::vector<spine::v1::AuditEvent> invocations;
        spine::v1::ListAuditEventsRequest list_events;
        spine::v1::ListAuditEventsResponse listed;
        auto admin_context = rpc::MakeClientContext(absl::Seconds(5));
        admin_context->AddMetadata("authorization", admin);
        REQUIRE(storage->ListAuditEvents(admin_context.get(), list_events, &listed).ok());
        for (const auto& event : listed.events()) {
          if (event.action() == "plugins.invoke") invocations.push_back(event);
        }
        return invocations;
      },
      [](const std::vector<spine::v1::AuditEvent>& seen) { return seen.size() >= 4; }, kPollTimeout,
      absl::Milliseconds(50));
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
    int timeout_ms;
  };
  // Only "spin" ends at its timeout; the others end on a limit of the sandbox or the host long
  // before theirs, which is generous so that a loaded machine cannot turn them into timeouts.
  for (const Case c : {Case{"memoryBomb", 502, "PLUGIN_CRASHED", 15000},
                       Case{"spin", 504, "", 1500}, Case{"exit", 502, "PLUGIN_CRASHED", 15000},
                       Case{"garbage", 502, "PLUGIN_BAD_OUTPUT", 15000},
                       Case{"flood", 502, "PLUGIN_BAD_OUTPUT", 15000}}) {
    INFO(c.attack);
    const HttpResult result =
        Invoke(stack, "hostile", {{"input", {{"attack", c.attack}}}, {"timeoutMs", c.timeout_ms}});
    INFO(result.body);
    CHECK(result.status == c.status);
    if (c.reason[0] != '\0') CHECK(Reason(result) == c.reason);
    HelloWorldStillAnswers(stack);
  }

  const HttpResult status = HttpRequestTo(stack.http_port(), "GET", "/status");
  REQUIRE(status.status == 200);
  CHECK(Json::parse(status.body)["pluginSandboxAlive"] == true);
}

TEST_CASE(
    "a plugin that keeps crashing for several users is disabled, then half-open, then ready") {
  TempDir dir;
  Constellation stack(std::vector<std::string>{"storage", "plugins", "gateway"},
                      {{"SPINE_PLUGINS_DIR", PluginsDirWithHostile(dir)},
                       {"SPINE_PLUGINS_BREAKER_OPEN_MS", "1500"},
                       {"SPINE_RATE_LIMIT_PER_MINUTE", "100000"}});
  StartStack(stack);
  // Five crashes within the window, from three users (SPINE_PLUGINS_BREAKER_USERS).
  for (const char* user : {"11", "11", "12", "12", "13"}) {
    const HttpResult crash = Invoke(stack, "hostile", {{"input", {{"attack", "exit"}}}}, user);
    CHECK(crash.status == 502);
  }
  const HttpResult refused = Invoke(stack, "hostile", {{"input", {{"attack", "echo"}}}}, "14");
  CHECK(refused.status == 503);
  CHECK(Reason(refused) == "PLUGIN_DISABLED");
  CHECK(refused.headers.count("retry-after") == 1);
  CHECK(PluginState(stack, "hostile") == "DISABLED");
  HelloWorldStillAnswers(stack);  // other plugins are not affected

  // Polls the state the breaker shows once its open period is over (no push channel exists).
  CHECK(PollFor([&] { return PluginState(stack, "hostile"); },
                [](const std::string& state) { return state != "DISABLED"; }, kPollTimeout,
                kGatewayPollInterval) == "DEGRADED");
  const HttpResult trial = Invoke(stack, "hostile", {{"input", {{"attack", "echo"}}}});
  CHECK(trial.status == 200);
  CHECK(PluginState(stack, "hostile") == "READY");
}

TEST_CASE("one user's crashing inputs disable the plugin for that user only") {
  TempDir dir;
  Constellation stack(std::vector<std::string>{"storage", "plugins", "gateway"},
                      {{"SPINE_PLUGINS_DIR", PluginsDirWithHostile(dir)},
                       {"SPINE_RATE_LIMIT_PER_MINUTE", "100000"}});
  StartStack(stack);
  for (int i = 0; i < 8; ++i) {
    const HttpResult crash = Invoke(stack, "hostile", {{"input", {{"attack", "exit"}}}}, "21");
    CHECK((crash.status == 502 || crash.status == 503));
  }
  const HttpResult refused = Invoke(stack, "hostile", {{"input", {{"attack", "echo"}}}}, "21");
  CHECK(refused.status == 503);
  CHECK(Reason(refused) == "PLUGIN_DISABLED");
  CHECK(refused.headers.count("retry-after") == 1);
  // Everyone else is still served.
  const HttpResult other = Invoke(stack, "hostile", {{"input", {{"attack", "echo"}}}}, "22");
  INFO(other.body);
  CHECK(other.status == 200);
  CHECK(PluginState(stack, "hostile") != "DISABLED");
}

TEST_CASE("one user flooding a plugin's queue does not keep another user out") {
  TempDir dir;
  Constellation stack(std::vector<std::string>{"storage", "plugins", "gateway"},
                      {{"SPINE_PLUGINS_DIR", PluginsDirWithHostile(dir)},
                       {"SPINE_PLUGINS_QUEUE_LIMIT", "4"},
                       {"SPINE_PLUGINS_USER_QUEUE_LIMIT", "2"}});
  StartStack(stack);
  auto stub =
      spine::v1::PluginService::NewStub(rpc::MakeChannel(stack.GrpcAddress("plugins"), 4 << 20));
  struct Outcome {
    grpc::StatusCode code = grpc::StatusCode::UNKNOWN;
    absl::Time finished{};
  };
  auto invoke = [&](const std::string& user, int ms) {
    spine::v1::InvokePluginRequest request;
    request.set_name("hostile");
    const std::string input = Json{{"attack", "sleep"}, {"ms", ms}}.dump();
    if (!google::protobuf::util::JsonStringToMessage(input, request.mutable_input()).ok()) {
      return Outcome{};
    }
    spine::v1::InvokePluginResponse response;
    auto context = rpc::MakeClientContext(absl::Seconds(30));
    context->AddMetadata("authorization", Bearer(stack, user));
    const grpc::Status status = stub->InvokePlugin(context.get(), request, &response);
    return Outcome{status.error_code(), absl::Now()};
  };

  // The users exist before the flood: its threads would otherwise race to create them.
  EnsureUserIds(stack, "32");
  // User 31 sends slow invocations until one is refused: hostile's two workers are busy and
  // its share of the queue is full.
  std::vector<std::future<Outcome>> flood;
  bool refused = false;
  for (int i = 0; i < 12 && !refused; ++i) {
    flood.push_back(std::async(std::launch::async, invoke, "31", 1500));
    // An admitted invocation stays out for 1.5 s; a refused one answers at once.
    refused = flood.back().wait_for(std::chrono::milliseconds(300)) == std::future_status::ready;
  }
  REQUIRE(refused);
  CHECK(flood.back().get().code == grpc::StatusCode::RESOURCE_EXHAUSTED);
  flood.pop_back();

  // User 32 is admitted, and served before user 31's backlog.
  const Outcome other = invoke("32", 10);
  CHECK(other.code == grpc::StatusCode::OK);
  absl::Time last_flood = absl::InfinitePast();
  for (std::future<Outcome>& pending : flood) {
    const Outcome outcome = pending.get();
    CHECK(outcome.code == grpc::StatusCode::OK);
    last_flood = std::max(last_flood, outcome.finished);
  }
  CHECK(other.finished < last_flood);
}

TEST_CASE("a worker that burns CPU after answering is recycled and its CPU use stops") {
  TempDir dir;
  Constellation stack(std::vector<std::string>{"storage", "plugins", "gateway"},
                      {{"SPINE_PLUGINS_DIR", PluginsDirWithHostile(dir)},
                       {"SPINE_PLUGINS_IDLE_CPU_BUDGET_MS", "300"},
                       {"SPINE_PLUGINS_SELF_TEST_INTERVAL_MS", "3600000"},
                       {"SPINE_RATE_LIMIT_PER_MINUTE", "100000"}});
  StartStack(stack);
  const pid_t service = stack.process("plugins").pid();
  const HttpResult answered =
      Invoke(stack, "hostile", {{"input", {{"attack", "spinAfterAnswer"}}}});
  INFO(answered.body);
  REQUIRE(answered.status == 200);

  // The spinner: a worker whose CPU time keeps rising while no call runs.
  const std::map<pid_t, ProcessInfo> before = DescendantsOf(service);
  absl::SleepFor(absl::Milliseconds(200));  // a measuring window, not a wait for a condition
  const std::map<pid_t, ProcessInfo> after = DescendantsOf(service);
  std::set<pid_t> spinners;
  const int64_t ticks_per_second = sysconf(_SC_CLK_TCK);
  for (const auto& [pid, process] : after) {
    auto earlier = before.find(pid);
    if (earlier != before.end() && process.cpu_ticks - earlier->second.cpu_ticks >= 2) {
      spinners.insert(pid);
    }
  }
  REQUIRE(!spinners.empty());

  // It is killed and reaped after a bounded amount of CPU (budget plus one check interval's
  // worth; measured in CPU, not wall time, so a loaded machine does not change the verdict),
  // long before its 5 s RLIMIT_CPU would end it; the idle workers left use (next to) no CPU.
  std::map<pid_t, int64_t> last_ticks;
  for (const pid_t pid : spinners) last_ticks[pid] = after.at(pid).cpu_ticks;
  // Polling /proc (no push channel), noting each spinner's CPU time while it lives.
  const bool gone = PollUntil(
      [&] {
        const std::map<pid_t, ProcessInfo> now = DescendantsOf(service);
        bool all_gone = true;
        for (const pid_t pid : spinners) {
          auto found = now.find(pid);
          if (found == now.end()) continue;
          all_gone = false;
          last_ticks[pid] = found->second.cpu_ticks;
        }
        return all_gone;
      },
      absl::Seconds(30), absl::Milliseconds(20));
  INFO(stack.Log("plugins"));
  CHECK(gone);
  for (const auto& [pid, ticks] : last_ticks) CHECK(ticks < ticks_per_second * 2);
  const std::map<pid_t, ProcessInfo> first = DescendantsOf(service);
  absl::SleepFor(absl::Milliseconds(300));  // a measuring window
  CHECK(TicksOf(DescendantsOf(service)) - TicksOf(first) < ticks_per_second / 20);
  // A fresh worker answers on demand.
  const HttpResult again = Invoke(stack, "hostile", {{"input", {{"attack", "echo"}}}});
  CHECK(again.status == 200);
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
