// deploy/observability as files: promtool accepts the scrape configs and the alert rules and
// the rules' unit tests pass; every alert has a firing test and a runbook; the compose variant
// of the scrape config differs only by its target; the dashboard is well-formed and uses the
// provisioned datasource. Whether the names they use exist on a live /metrics is
// tests/integration/observability_test.cc's part.
#include <catch2/catch.hpp>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "tests/support/child_process.h"
#include "tests/support/promql_refs.h"
#include "tests/support/shell.h"

namespace spine::testing {
namespace {

const std::string kKit = SPINE_SOURCE_DIR "/deploy/observability";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  INFO(path);
  REQUIRE(in.good());
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

// Whether promtool can run; CI installs it (scripts/install-deps), so there its absence fails.
bool HavePromtool() {
  if (std::system("command -v promtool >/dev/null 2>&1") == 0) return true;
  if (std::getenv("CI") != nullptr) FAIL("promtool is not installed; run scripts/install-deps");
  WARN("promtool is not installed; skipping (scripts/install-deps installs it)");
  return false;
}

std::string Promtool(const std::string& args) {
  return "cd " + ShellQuote(kKit) + " && promtool " + args;
}

TEST_CASE("promtool accepts the scrape configs and the alert rules, and their unit tests pass") {
  if (!HavePromtool()) return;
  for (const char* command :
       {"check config prometheus.yml", "check config prometheus.compose.yml",
        "check rules rules/spine-alerts.yml", "test rules rules/spine-alerts.test.yml"}) {
    const ShellResult result = RunShell(Promtool(command));
    INFO(command << "\n" << result.output);
    CHECK(result.exit_code == 0);
  }
}

TEST_CASE("the alert rules' unit tests fail when an alert's expected labels are wrong") {
  // The suite above only means something if promtool compares what fires with what is expected.
  if (!HavePromtool()) return;
  TempDir dir;
  const std::string rules = ReadFile(kKit + "/rules/spine-alerts.yml");
  std::string tests = ReadFile(kKit + "/rules/spine-alerts.test.yml");
  const std::string expected = "exp_labels: {severity: critical, service: storage}";
  const size_t at = tests.find(expected);
  REQUIRE(at != std::string::npos);
  tests.replace(at, expected.size(), "exp_labels: {severity: critical, service: llm}");
  dir.WriteFile("spine-alerts.yml", rules, 0644);
  const std::string file = dir.WriteFile("spine-alerts.test.yml", tests, 0644);
  const ShellResult result = RunShell("promtool test rules " + ShellQuote(file));
  INFO(result.output);
  CHECK(result.exit_code != 0);
  CHECK(result.output.find("SpineServiceDown") != std::string::npos);
}

TEST_CASE("every alert has a test that fires it and a runbook entry") {
  const std::vector<std::string> alerts =
      RuleAlertNames(ReadFile(kKit + "/rules/spine-alerts.yml"));
  REQUIRE(alerts.size() >= 15);
  const std::string tests = ReadFile(kKit + "/rules/spine-alerts.test.yml");
  const std::string runbooks = ReadFile(SPINE_SOURCE_DIR "/docs/operations.md");
  const std::string rules = ReadFile(kKit + "/rules/spine-alerts.yml");
  for (const std::string& alert : alerts) {
    INFO(alert);
    // A firing expectation: `alertname: X` whose exp_alerts is a non-empty list.
    const std::regex firing("alertname: " + alert + "\\s*\\n\\s*exp_alerts:\\s*\\n\\s*- ");
    CHECK(std::regex_search(tests, firing));
    CHECK(runbooks.find("\n### " + alert + "\n") != std::string::npos);
    std::string anchor = alert;
    for (char& c : anchor) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    CHECK(rules.find("runbook: docs/operations.md#" + anchor + "\n") != std::string::npos);
  }
}

TEST_CASE("the compose scrape config differs from the plain one only by its target") {
  const std::string plain = ReadFile(kKit + "/prometheus.yml");
  const std::string compose = ReadFile(kKit + "/prometheus.compose.yml");
  const std::string local_target = R"(targets: ["127.0.0.1:8080"])";
  const std::string compose_target = R"(targets: ["gateway:8080"])";
  std::string expected = plain;
  const size_t at = expected.find(local_target);
  REQUIRE(at != std::string::npos);
  expected.replace(at, local_target.size(), compose_target);
  CHECK(compose == expected);
}

TEST_CASE("the dashboard: valid JSON, unique panel ids, the provisioned datasource, queries") {
  const nlohmann::json dashboard =
      nlohmann::json::parse(ReadFile(kKit + "/grafana/spine-dashboard.json"));
  CHECK(dashboard["uid"] == "spine-overview");
  REQUIRE(dashboard["panels"].is_array());
  const std::string datasources = ReadFile(kKit + "/grafana/provisioning/datasources.yml");
  CHECK(datasources.find("uid: spine-prometheus\n") != std::string::npos);
  const std::string providers = ReadFile(kKit + "/grafana/provisioning/dashboards.yml");
  CHECK(providers.find("type: file\n") != std::string::npos);

  std::set<int> ids;
  int queried = 0;
  for (const nlohmann::json& panel : dashboard["panels"]) {
    INFO(panel.dump());
    CHECK(ids.insert(panel["id"].get<int>()).second);
    if (panel["type"] == "row") continue;
    CHECK(panel["datasource"]["uid"] == "spine-prometheus");
    REQUIRE(panel["targets"].is_array());
    for (const nlohmann::json& target : panel["targets"]) {
      CHECK(target["datasource"]["uid"] == "spine-prometheus");
      CHECK(!target["refId"].get<std::string>().empty());
    }
    ++queried;
  }
  CHECK(queried >= 20);
  // Every query names at least one series: a typo that turned one into a function or a string
  // would leave nothing for the live check to compare.
  for (const DashboardQuery& query : DashboardQueries(dashboard)) {
    INFO(query.expr);
    CHECK(!ExtractPromqlRefs(query.expr).metrics.empty());
  }
}

}  // namespace
}  // namespace spine::testing
