// The operations kit (deploy/observability) against a live /metrics of the whole stack:
// `promtool check metrics` accepts the exposition, and every series and label the alert rules
// and the Grafana dashboard name exists in it, so a renamed series breaks CI instead of
// silencing an alert.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "libs/auth/jwt.h"
#include "libs/core/clock.h"
#include "nlohmann/json.hpp"
#include "tests/integration/constellation.h"
#include "tests/integration/storage_client.h"
#include "tests/support/child_process.h"
#include "tests/support/http_client.h"
#include "tests/support/poll.h"
#include "tests/support/promql_refs.h"
#include "tests/support/shell.h"

namespace spine::testing {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  INFO(path);
  REQUIRE(in.good());
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

TEST_CASE("the alert rules and the dashboard name only what a live /metrics exports") {
  TempDir dir;
  Constellation stack({std::begin(Constellation::kServices), std::end(Constellation::kServices)},
                      {{"SPINE_RATE_LIMIT_PER_MINUTE", "100000"}});
  for (const char* service : Constellation::kServices) {
    INFO(service << ": " << stack.Log(service));
    REQUIRE(stack.WaitHealthy(service, absl::Seconds(20)));
  }
  REQUIRE(stack.WaitForHttpStatus("/readyz", 200, absl::Seconds(30)) == 200);

  // Traffic, so the request counters, the latency histogram and the upstream errors have
  // samples: a success through each kind of route, and a 404 that spine-storage answers.
  EnsureUserIds(stack, "7");
  JwtSigner signer(*Ed25519PrivateKey::FromPem(stack.private_key_pem()), RealClock::Instance());
  const std::string bearer = "Bearer " + *signer.Sign("7", "user7", "user");
  const int port = stack.http_port();
  CHECK(HttpRequestTo(port, "GET", "/status").status == 200);
  CHECK(HttpRequestTo(port, "POST", "/api/thoughts",
                      {{"Authorization", bearer}, {"Content-Type", "application/json"}},
                      R"({"text": "observed"})")
            .status == 201);
  CHECK(HttpRequestTo(port, "GET", "/api/thoughts/987654321", {{"Authorization", bearer}}).status ==
        404);
  CHECK(HttpRequestTo(port, "POST", "/api/plugins/hello-world/invoke",
                      {{"Authorization", bearer}, {"Content-Type", "application/json"}},
                      R"({"input": {"name": "Ada"}})")
            .status == 200);

  const HttpResult metrics = HttpRequestTo(port, "GET", "/metrics");
  REQUIRE(metrics.status == 200);
  const Exposition exposition = ParseExposition(metrics.body);
  INFO(metrics.body);
  // Sequential checks, not sections: a section would start the stack once each.

  // promtool check metrics accepts it.
  if (std::system("command -v promtool >/dev/null 2>&1") == 0) {
    const std::string file = dir.WriteFile("metrics.txt", metrics.body, 0644);
    const ShellResult checked = RunShell("promtool check metrics < " + ShellQuote(file));
    INFO(checked.output);
    CHECK(checked.exit_code == 0);
    CHECK(checked.output.empty());
  } else if (std::getenv("CI") != nullptr) {
    FAIL("promtool is not installed; run scripts/install-deps");
  } else {
    WARN("promtool is not installed; skipping its check (scripts/install-deps installs it)");
  }

  // Every series and label of the alert rules exists.
  const std::vector<std::string> exprs =
      RuleExpressions(ReadFile(SPINE_SOURCE_DIR "/deploy/observability/rules/spine-alerts.yml"));
  CHECK(exprs.size() >= 15);
  for (const std::string& expr : exprs) {
    INFO(expr);
    const PromqlRefs refs = ExtractPromqlRefs(expr);
    CHECK(!refs.metrics.empty());
    CHECK(absl::StrJoin(MissingFromExposition(refs, exposition), "; ") == "");
  }

  // Every series and label of the dashboard's queries and legends exists.
  const nlohmann::json dashboard = nlohmann::json::parse(
      ReadFile(SPINE_SOURCE_DIR "/deploy/observability/grafana/spine-dashboard.json"));
  const std::vector<DashboardQuery> queries = DashboardQueries(dashboard);
  CHECK(queries.size() >= 20);
  for (const DashboardQuery& query : queries) {
    INFO(query.expr);
    PromqlRefs refs = ExtractPromqlRefs(query.expr);
    CHECK(!refs.metrics.empty());
    refs.labels.insert(query.legend_labels.begin(), query.legend_labels.end());
    CHECK(absl::StrJoin(MissingFromExposition(refs, exposition), "; ") == "");
  }

  // A misspelt series or label would be caught on this very exposition.
  CHECK(MissingFromExposition(
            ExtractPromqlRefs("rate(spine_gateway_http_request_total{code=~\"5..\"}[5m])"),
            exposition) == std::vector<std::string>{"series spine_gateway_http_request_total"});
  CHECK(MissingFromExposition(ExtractPromqlRefs("spine_llm_queue_depth{queue=\"steps.llm\"}"),
                              exposition) ==
        std::vector<std::string>{"label queue on spine_llm_queue_depth"});
}

TEST_CASE("a plugin whose circuit breaker opened is spine_plugin_breaker_open 1 on /metrics") {
  TempDir dir;
  // The sandbox's user must be able to walk to the plugins linked here.
  REQUIRE(chmod(dir.path().c_str(), 0755) == 0);
  const std::string plugins = dir.path() + "/plugins";
  REQUIRE(mkdir(plugins.c_str(), 0755) == 0);
  REQUIRE(symlink(SPINE_SOURCE_DIR "/plugins/hello-world", (plugins + "/hello-world").c_str()) ==
          0);
  REQUIRE(symlink(SPINE_SOURCE_DIR "/tests/sandbox/plugins/hostile",
                  (plugins + "/hostile").c_str()) == 0);
  // One crash by one user opens the plugin's circuit, for a minute.
  Constellation stack(std::vector<std::string>{"storage", "plugins", "gateway"},
                      {{"SPINE_PLUGINS_DIR", plugins},
                       {"SPINE_PLUGINS_BREAKER_CRASHES", "1"},
                       {"SPINE_PLUGINS_BREAKER_USERS", "1"},
                       {"SPINE_PLUGINS_BREAKER_OPEN_MS", "60000"},
                       {"SPINE_RATE_LIMIT_PER_MINUTE", "100000"}});
  for (const char* service : {"storage", "plugins", "gateway"}) {
    INFO(service << ": " << stack.Log(service));
    REQUIRE(stack.WaitHealthy(service, absl::Seconds(20)));
  }
  auto metric = [&](const std::string& plugin) {
    const HttpResult metrics = HttpRequestTo(stack.http_port(), "GET", "/metrics");
    const std::string line =
        "spine_plugin_breaker_open{service=\"plugins\",plugin=\"" + plugin + "\"} ";
    const size_t at = metrics.body.find(line);
    return at == std::string::npos ? std::string("absent")
                                   : metrics.body.substr(at + line.size(), 1);
  };
  CHECK(metric("hostile") == "0");

  EnsureUserIds(stack, "7");
  JwtSigner signer(*Ed25519PrivateKey::FromPem(stack.private_key_pem()), RealClock::Instance());
  const std::map<std::string, std::string> headers = {
      {"Authorization", "Bearer " + *signer.Sign("7", "user7", "user")},
      {"Content-Type", "application/json"}};
  const HttpResult crashed = HttpRequestTo(stack.http_port(), "POST", "/api/plugins/hostile/invoke",
                                           headers, R"({"input": {"attack": "exit"}})");
  INFO(crashed.body);
  CHECK(crashed.status >= 500);
  // /metrics is cached with /status for a second.
  CHECK(PollUntil([&] { return metric("hostile") == "1"; }, absl::Seconds(10),
                  absl::Milliseconds(200)));
  CHECK(metric("hello-world") == "0");
}

}  // namespace
}  // namespace spine::testing
