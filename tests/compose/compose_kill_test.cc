// Faults under load against the docker-compose stack (issue 18, "the same kill test against the
// docker-compose stack"): tests/faults' load runs through the published port at about 10x the
// plan's rate while each service's container is `docker kill`ed in turn and brought back as a
// user of the stack would, with `docker-compose start <service>`. Docker counts `docker kill` as
// a manual stop, which `restart: unless-stopped` does not undo; the test checks that it did not
// (so what it relies on is the explicit start), then that the service rejoins, healthy, without
// any other container restarting, and afterwards prints tests/faults' set arithmetic.
//
// Run by scripts/test-compose as `compose_tests [kill]`, with SPINE_COMPOSE_STACK naming
// tests/compose/stack (docker and docker-compose on that stack) beside compose_env.h's variables.
#include <catch2/catch.hpp>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"
#include "tests/compose/compose_env.h"
#include "tests/support/fault_load.h"
#include "tests/support/http_client.h"
#include "tests/support/poll.h"
#include "tests/support/shell.h"

namespace spine::testing {
namespace {

using Json = nlohmann::json;

constexpr const char* kServices[] = {"storage", "llm", "plugins", "tasks", "gateway"};
// docker-compose.yml sets no SPINE_RPC_DEADLINE_MS: the default deadline of internal calls.
constexpr int kStackDeadlineMs = 5000;
// The longest a request of the mix may take while a service is dead (a run: waitMs, then the
// deadline), plus two seconds for sanitizer builds in containers on a busy machine.
constexpr absl::Duration kDeadlineBound = absl::Milliseconds(kRunWaitMs + kStackDeadlineMs + 2000);
// How long a killed service may stay down before the test starts it again: long enough for a
// restart policy to have acted (Docker's first restart comes after 100 ms).
constexpr absl::Duration kDeadFor = absl::Seconds(2);

// One container as `docker inspect` sees it.
struct Container {
  std::string status;      // running, exited, restarting, ...
  std::string started_at;  // changes with every start, by the engine or by hand
  int restarts = -1;       // the engine's restarts under the restart policy
  int exit_code = -1;
  std::string health;  // starting, healthy, unhealthy
};

// docker and docker-compose on the stack, through tests/compose/stack.
class ComposeStack {
 public:
  ComposeStack() : cli_(Env("SPINE_COMPOSE_STACK")) {}

  // Runs `stack <args>` (args already quoted for the shell); its output, trimmed.
  std::string Run(const std::string& args) const {
    const ShellResult result = RunShell(ShellQuote(cli_) + " " + args);
    INFO("stack " << args << ": " << result.output);
    REQUIRE(result.exit_code == 0);
    return std::string(absl::StripAsciiWhitespace(result.output));
  }

  // The id of the service's container (the last line: docker-compose may warn before it).
  std::string ContainerId(const std::string& service) const {
    const std::string output = Run("compose ps -q " + ShellQuote(service));
    std::string id(absl::StripAsciiWhitespace(output.substr(output.rfind('\n') + 1)));
    INFO(output);
    REQUIRE(id.size() == 64);
    return id;
  }

  Container Inspect(const std::string& id) const {
    const std::string line =
        Run("docker inspect -f " +
            ShellQuote("{{.State.Status}} {{.State.StartedAt}} {{.RestartCount}} "
                       "{{.State.ExitCode}} {{if .State.Health}}{{.State.Health.Status}}{{end}}") +
            " " + ShellQuote(id));
    const std::vector<std::string> fields = absl::StrSplit(line, ' ');
    INFO(line);
    REQUIRE(fields.size() == 5);
    Container container{fields[0], fields[1], -1, -1, fields[4]};
    REQUIRE(absl::SimpleAtoi(fields[2], &container.restarts));
    REQUIRE(absl::SimpleAtoi(fields[3], &container.exit_code));
    return container;
  }

  std::string Logs(const std::string& service) const {
    return RunShell(ShellQuote(cli_) + " compose logs --tail 30 " + ShellQuote(service)).output;
  }

 private:
  std::string cli_;
};

// A user of its own for the load (created by the admin), so that its thoughts are the load's
// alone: the set arithmetic counts every thought the user has.
GatewayUser NewUser(int port) {
  auto post = [port](const std::string& path, const std::string& bearer, const Json& body) {
    std::map<std::string, std::string> headers = {{"Content-Type", "application/json"}};
    if (!bearer.empty()) headers.emplace("Authorization", bearer);
    const HttpResult result = HttpRequestTo(port, "POST", path, headers, body.dump());
    INFO(path << ": " << result.status << " " << result.body);
    REQUIRE(result.status / 100 == 2);
    return Json::parse(result.body);
  };
  const Json admin =
      post("/api/auth/login", "", {{"username", "admin"}, {"password", AdminPassword()}});
  const std::string username = absl::StrCat("faults", absl::ToUnixMillis(absl::Now()));
  const std::string password = absl::StrCat(username, "-password");
  post("/api/users", "Bearer " + admin["accessToken"].get<std::string>(),
       {{"username", username}, {"password", password}, {"role", "user"}});
  const Json login = post("/api/auth/login", "", {{"username", username}, {"password", password}});
  return GatewayUser(port, "Bearer " + login["accessToken"].get<std::string>());
}

void Print(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

}  // namespace

TEST_CASE(
    "docker kill of each container under load: refused, the rest answer, it rejoins alone, "
    "nothing lost",
    "[kill]") {
  const ComposeStack stack;
  const int port = Port();
  const GatewayUser user = NewUser(port);
  std::map<std::string, std::string> ids;
  std::map<std::string, Container> last;  // each container as last seen
  for (const char* service : kServices) {
    ids[service] = stack.ContainerId(service);
    last[service] = stack.Inspect(ids[service]);
    INFO(service);
    REQUIRE(last[service].status == "running");
    REQUIRE(last[service].health == "healthy");
  }

  Load load(user, "compose-faults");
  absl::SleepFor(absl::Seconds(2));
  load.SetPhase("steady");
  absl::SleepFor(absl::Seconds(1));

  for (const char* service : kServices) {
    INFO("killed " << service);
    const std::string& id = ids[service];
    const std::string dead = absl::StrCat(service, " dead");
    stack.Run("docker kill " + ShellQuote(id));
    // Down (or, were a restart policy to undo `docker kill`, up again: checked below).
    const auto stopped = [&](const Container& c) {
      return c.status != "running" || c.started_at != last[service].started_at;
    };
    REQUIRE(stopped(PollFor([&] { return stack.Inspect(id); }, stopped, absl::Seconds(10),
                            absl::Milliseconds(100))));
    load.SetPhase(dead);
    const absl::Time dead_since = absl::Now();
    if (std::string(service) != "gateway") {
      // /status (cached for a second) names the dead service down, the platform degraded.
      CHECK(PollFor([&] { return StatusUp(port, service); },
                    [](std::optional<bool> up) { return up == false; }, absl::Seconds(5),
                    absl::Milliseconds(200)) == false);
      CHECK(Json::parse(HttpRequestTo(port, "GET", "/status").body, nullptr, false)
                .value("status", "") == "degraded");
    }
    absl::SleepFor(kDeadFor - (absl::Now() - dead_since));
    // Docker's rule, checked rather than assumed: `docker kill` is a manual stop, so the
    // restart policy has left the container down, and counted no restart.
    const Container still = stack.Inspect(id);
    CHECK(still.status == "exited");
    CHECK(still.exit_code == 137);  // SIGKILL
    CHECK(still.restarts == last[service].restarts);
    CHECK(still.started_at == last[service].started_at);

    load.SetPhase(absl::StrCat(service, " restarting"));
    const absl::Time start = absl::Now();
    stack.Run("compose start " + ShellQuote(service));
    // Healthy by its own health check: the gRPC health probe, or the gateway's /readyz.
    const Container back = PollFor([&] { return stack.Inspect(id); },
                                   [](const Container& c) { return c.health == "healthy"; },
                                   absl::Seconds(90), absl::Milliseconds(500));
    const absl::Duration to_healthy = absl::Now() - start;
    if (back.health != "healthy")
      FAIL(back.status << " " << back.health << "\n" << stack.Logs(service));
    CHECK(back.started_at != last[service].started_at);
    // The gateway sees it again (its channel reconnects to the new container).
    if (std::string(service) != "gateway") {
      CHECK(PollFor([&] { return StatusUp(port, service); },
                    [](std::optional<bool> up) { return up == true; }, absl::Seconds(30),
                    absl::Milliseconds(200)) == true);
    }
    const absl::Duration to_rejoined = absl::Now() - start;
    load.SetPhase(absl::StrCat("after ", service));
    absl::SleepFor(absl::Seconds(1));

    CheckWhileDead(load, dead, service, kDeadlineBound);
    // No other container restarted: the same start time and restart count, still running.
    std::string others;
    for (const char* other : kServices) {
      if (std::string(other) == service) continue;
      INFO(other);
      const Container now = stack.Inspect(ids[other]);
      CHECK(now.status == "running");
      CHECK(now.started_at == last[other].started_at);
      CHECK(now.restarts == last[other].restarts);
      absl::StrAppend(&others, others.empty() ? "" : ", ", other, " ", now.status, " (",
                      now.restarts, " restarts)");
    }
    Print(absl::StrCat("[compose-faults] ", service, ": docker kill -> ", still.status, " (",
                       still.exit_code, "), restarts ", last[service].restarts, " -> ",
                       still.restarts, " after ", absl::ToInt64Milliseconds(kDeadFor),
                       " ms; docker-compose start -> ", back.health, " in ",
                       absl::ToInt64Milliseconds(to_healthy), " ms, up in /status in ",
                       absl::ToInt64Milliseconds(to_rejoined), " ms; not restarted: ", others));
    last[service] = back;
  }
  SettleAndReckon(load, user);
}

}  // namespace spine::testing
