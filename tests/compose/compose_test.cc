// The docker-compose stack as a user meets it: only through the gateway's published port.
// scripts/test-compose starts the stack and runs these by tag, between its own steps:
//   [before]  everything works: login, thoughts, search, plugins (sandbox alive in its
//             container, a hostile plugin refused), the example pipeline; a marker thought stays
//   [kill]    (compose_kill_test.cc) each container `docker kill`ed under load and started again
//   [after]   (after the kills, spine-storage's process killed, and down + up) the marker is there
//   [monitoring]  (with the `monitoring` profile on) Prometheus scrapes the gateway and has
//             deploy/observability's alert rules loaded
//
// SPINE_COMPOSE_PORT: the gateway's port on 127.0.0.1; SPINE_COMPOSE_ADMIN_PASSWORD_FILE: the
// admin password deploy/compose/up generated; SPINE_COMPOSE_MARK: the marker thought's text;
// SPINE_COMPOSE_PROMETHEUS_PORT: the profile's Prometheus on 127.0.0.1.
#include <catch2/catch.hpp>
#include <map>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "tests/compose/compose_env.h"
#include "tests/support/http_client.h"
#include "tests/support/poll.h"

namespace spine::testing {
namespace {

using Json = nlohmann::json;

// One call to the stack with the JSON body parsed (null when there is none).
struct Answer {
  int status = 0;
  Json body;
  std::string raw;
};

Answer Call(const std::string& method, const std::string& target, const std::string& token = "",
            const Json& body = nullptr) {
  std::map<std::string, std::string> headers;
  if (!token.empty()) headers["Authorization"] = "Bearer " + token;
  std::string payload;
  if (!body.is_null()) {
    headers["Content-Type"] = "application/json";
    payload = body.dump();
  }
  const HttpResult result = HttpRequestTo(Port(), method, target, headers, payload);
  Answer answer{result.status, nullptr, result.body};
  if (!result.body.empty()) answer.body = Json::parse(result.body, nullptr, false);
  return answer;
}

std::string Login() {
  const Answer login =
      Call("POST", "/api/auth/login", "", {{"username", "admin"}, {"password", AdminPassword()}});
  INFO(login.raw);
  REQUIRE(login.status == 200);
  return login.body["accessToken"].get<std::string>();
}

// The thoughts whose text matches the full-text `query` (URL-safe words only).
Json Search(const std::string& token, const std::string& query) {
  const Answer found = Call("GET", "/api/thoughts?query=" + query, token);
  INFO(found.raw);
  REQUIRE(found.status == 200);
  return found.body.value("thoughts", Json::array());
}

TEST_CASE("the stack works through its published port", "[before]") {
  const std::string token = Login();

  SECTION("/status: every service up, the plugin sandbox alive with all its layers") {
    const Answer status = Call("GET", "/status");
    INFO(status.raw);
    REQUIRE(status.status == 200);
    CHECK(status.body["status"] == "ok");
    CHECK(status.body["dbConn"] == true);
    CHECK(status.body["pluginSandboxAlive"] == true);
    const std::string layers = status.body.value("pluginSandbox", "");
    CHECK(absl::StrContains(layers, "landlock"));
    CHECK(absl::StrContains(layers, "seccomp"));
    CHECK(absl::StrContains(layers, "namespaces: user,pid,ipc,mnt"));
    for (const char* service : {"gateway", "storage", "llm", "plugins", "tasks"}) {
      INFO(service);
      CHECK(status.body["services"][service]["up"] == true);
    }
  }

  SECTION("thoughts: create, read, search, patch, delete; a marker thought stays") {
    const Answer created =
        Call("POST", "/api/thoughts", token, {{"text", "compose crud check"}, {"tags", {"ci"}}});
    INFO(created.raw);
    REQUIRE(created.status == 201);
    const std::string id = created.body["id"].get<std::string>();
    CHECK(Call("GET", "/api/thoughts/" + id, token).body["text"] == "compose crud check");
    bool found = false;
    for (const Json& thought : Search(token, "crud")) found = found || thought["id"] == id;
    CHECK(found);
    const Answer patched = Call("PATCH", "/api/thoughts/" + id, token, {{"tags", Json::array()}});
    CHECK(patched.status == 200);
    CHECK(patched.body["tags"] == Json::array());
    CHECK(Call("DELETE", "/api/thoughts/" + id, token).status == 204);
    CHECK(Call("GET", "/api/thoughts/" + id, token).status == 404);

    const Answer marker =
        Call("POST", "/api/thoughts", token, {{"text", Env("SPINE_COMPOSE_MARK")}});
    INFO(marker.raw);
    CHECK(marker.status == 201);
  }

  SECTION("hello-world answers from its sandboxed worker") {
    const Answer invoked = Call("POST", "/api/plugins/hello-world/invoke", token,
                                {{"input", {{"name", "Ada"}}}, {"timeoutMs", 10000}});
    INFO(invoked.raw);
    REQUIRE(invoked.status == 200);
    CHECK(invoked.body["output"]["greeting"] == "Hello, Ada!");
  }

  SECTION("a hostile plugin can neither read /etc/passwd nor open a socket") {
    auto attack = [&](const Json& input) {
      const Answer answer = Call("POST", "/api/plugins/hostile/invoke", token,
                                 {{"input", input}, {"timeoutMs", 10000}});
      INFO(answer.raw);
      REQUIRE(answer.status == 200);
      return answer.body["output"];
    };
    const Json passwd = attack({{"attack", "readFile"}, {"path", "/etc/passwd"}});
    INFO(passwd.dump());
    CHECK(passwd["result"] != "ok");
    CHECK_FALSE(absl::StrContains(passwd.dump(), "root:"));
    // The gateway's own port, inside the plugins container's network namespace and outside.
    for (const char* host : {"127.0.0.1", "gateway"}) {
      const Json socket = attack({{"attack", "connect"}, {"host", host}, {"port", 8080}});
      INFO(host << ": " << socket.dump());
      CHECK(socket["result"] != "connected");
    }
    const Json spawned = attack({{"attack", "spawn"}});
    INFO(spawned.dump());
    CHECK(spawned["result"] != "ok");
  }

  SECTION("the example pipeline (an LLM step, then a plugin step) runs to SUCCEEDED") {
    const Json definition = Json::parse(R"({"schemaVersion": 1, "steps": [
      {"id": "keywords", "llm": {"model": "stub", "prompt": "Three keywords for: {{input.note}}", "maxTokens": 8}},
      {"id": "tally", "plugin": {"name": "word-count", "input": {"text": "{{steps.keywords.output.text}}"}}}],
      "output": {"keywords": "{{steps.keywords.output.text}}", "stats": "{{steps.tally.output}}"}})");
    const Answer pipeline = Call("POST", "/api/pipelines", token,
                                 {{"name", "compose-tag-note"}, {"definition", definition}});
    INFO(pipeline.raw);
    REQUIRE(pipeline.status == 201);
    const std::string id = pipeline.body["id"].get<std::string>();
    Answer run = Call("POST", absl::StrCat("/api/pipelines/", id, "/runs"), token,
                      {{"input", {{"note", "call the plumber on monday"}}}, {"waitMs", 30000}});
    INFO(run.raw);
    REQUIRE((run.status == 200 || run.status == 202));
    const std::string run_id = run.body["id"].get<std::string>();
    // 202 when the run outlived waitMs: it must still end, and succeed.
    CHECK(PollUntil(
        [&] {
          run = Call("GET", "/api/runs/" + run_id, token);
          const std::string state = run.body.value("state", "");
          return state == "SUCCEEDED" || state == "FAILED" || state == "CANCELLED";
        },
        absl::Seconds(60), absl::Milliseconds(500)));
    INFO(run.raw);
    CHECK(run.body["state"] == "SUCCEEDED");
    CHECK(run.body["output"]["stats"]["words"].is_number());
  }
}

TEST_CASE("the marker thought written before is still there", "[after]") {
  const std::string token = Login();
  const std::string mark = Env("SPINE_COMPOSE_MARK");
  bool found = false;
  // The marker is one word of letters and digits, so the search is that word.
  for (const Json& thought : Search(token, mark)) found = found || thought["text"] == mark;
  CHECK(found);
}

TEST_CASE("Prometheus of the monitoring profile scrapes the gateway, rules loaded",
          "[monitoring]") {
  int port = 0;
  REQUIRE(absl::SimpleAtoi(Env("SPINE_COMPOSE_PROMETHEUS_PORT"), &port));
  // The first scrape comes within one interval (15 s) of Prometheus' start.
  Json target;
  const bool up = PollUntil(
      [&] {
        const HttpResult targets = HttpRequestTo(port, "GET", "/api/v1/targets?state=active");
        if (targets.status != 200) return false;
        const Json body = Json::parse(targets.body, nullptr, false);
        if (!body.is_object() || !body["data"]["activeTargets"].is_array()) return false;
        for (const Json& active : body["data"]["activeTargets"]) {
          if (active["labels"]["job"] == "spine-gateway") target = active;
        }
        return target.is_object() && target["health"] == "up";
      },
      absl::Seconds(90), absl::Seconds(1));
  INFO(target.dump());
  CHECK(up);
  CHECK(target["scrapeUrl"] == "http://gateway:8080/metrics");

  // The mounted rules: every alert of deploy/observability/rules/spine-alerts.yml, none broken.
  const HttpResult rules = HttpRequestTo(port, "GET", "/api/v1/rules?type=alert");
  REQUIRE(rules.status == 200);
  const Json body = Json::parse(rules.body);
  int alerts = 0;
  for (const Json& group : body["data"]["groups"]) {
    for (const Json& rule : group["rules"]) {
      INFO(rule.dump());
      CHECK(rule["health"] != "err");
      ++alerts;
    }
  }
  CHECK(alerts >= 15);
}

}  // namespace
}  // namespace spine::testing
