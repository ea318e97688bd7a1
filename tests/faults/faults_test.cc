// Faults under load (issue 18): the whole stack runs a mix of the main routes through the
// gateway at about 10x the plan's rate while a service is SIGKILLed (then restarted alone),
// SIGSTOPped (then continued) or its data directory runs out of space. In the manner of Jepsen
// every thought carries a unique text, and afterwards set arithmetic says what was lost, what
// appeared unasked and what was duplicated; the test prints it with the latencies it measured.
#include <sys/mount.h>
#include <sys/stat.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "libs/auth/jwt.h"
#include "libs/core/clock.h"
#include "nlohmann/json.hpp"
#include "tests/integration/constellation.h"
#include "tests/integration/storage_client.h"
#include "tests/support/fault_load.h"
#include "tests/support/http_client.h"
#include "tests/support/poll.h"
#include "tests/support/shell.h"

namespace spine::testing {
namespace {

using Json = nlohmann::json;

// The gateway's deadline for internal calls in these stacks: shorter than the pause, so a paused
// service's deadlines really fire.
constexpr int kDeadlineMs = 2000;
// The longest deadline the gateway gives a route of the mix (runs: waitMs + 2 s; the others
// SPINE_RPC_DEADLINE_MS), plus a second for a busy machine: no request may take longer.
constexpr absl::Duration kDeadlineBound = absl::Milliseconds(kRunWaitMs + kDeadlineMs + 1000);

class Stack {
 public:
  explicit Stack(const std::map<std::string, std::string>& extra_env = {})
      : stack_(std::vector<std::string>{}, WithDefaults(extra_env)) {}

  void StartAll() {
    for (const char* service : Constellation::kServices) stack_.Restart(service);
    for (const char* service : Constellation::kServices) {
      if (!stack_.WaitHealthy(service, absl::Seconds(30)))
        FAIL(service << ": " << stack_.Log(service));
    }
    EnsureUserIds(stack_, "7");
    JwtSigner signer(*Ed25519PrivateKey::FromPem(stack_.private_key_pem()), RealClock::Instance());
    user_.emplace(stack_.http_port(), "Bearer " + *signer.Sign("7", "user7", "user"));
  }

  HttpResult Call(const std::string& method, const std::string& path,
                  const Json& body = nullptr) const {
    return user().Call(method, path, body);
  }
  // User 7, signed for by the stack's own key (after StartAll).
  const GatewayUser& user() const { return *user_; }

  // /status's view of one service: true when up.
  std::optional<bool> StatusUp(const std::string& service) const {
    return testing::StatusUp(stack_.http_port(), service);
  }

  // A gauge or counter of the gateway's /metrics (the first sample whose line starts `prefix`).
  std::optional<double> Metric(const std::string& prefix) const {
    const HttpResult metrics = HttpRequestTo(stack_.http_port(), "GET", "/metrics");
    for (absl::string_view line : absl::StrSplit(metrics.body, '\n')) {
      if (!absl::StartsWith(line, prefix)) continue;
      double value = 0;
      if (absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &value)) return value;
    }
    return std::nullopt;
  }

  Constellation& operator*() { return stack_; }
  Constellation* operator->() { return &stack_; }

 private:
  static std::map<std::string, std::string> WithDefaults(std::map<std::string, std::string> env) {
    // The per-IP limit (100/min) is not under test here: every client shares 127.0.0.1.
    env.emplace("SPINE_RATE_LIMIT_PER_MINUTE", "1000000");
    env.emplace("SPINE_LLM_USER_REQUESTS_PER_MINUTE", "1000000");  // nor is llm's per-user one
    env.emplace("SPINE_RPC_DEADLINE_MS", std::to_string(kDeadlineMs));
    env.emplace("SPINE_LOG_LEVEL", "warn");  // a failure message shows the log: only what matters
    return env;
  }

  Constellation stack_;
  std::optional<GatewayUser> user_;
};

}  // namespace

TEST_CASE("SIGKILL of each service under load: refused fast, the rest answer, nothing lost",
          "[faults]") {
  Stack stack;
  stack.StartAll();
  Load load(stack.user(), "faults");
  absl::SleepFor(absl::Seconds(2));
  load.SetPhase("steady");
  absl::SleepFor(absl::Seconds(1));

  for (const char* service : Constellation::kServices) {
    INFO("killed " << service);
    const std::string dead = absl::StrCat(service, " dead");
    stack->process(service).Signal(SIGKILL);
    REQUIRE(stack->process(service).WaitExit(absl::Seconds(5)).has_value());
    load.SetPhase(dead);
    // /status (cached for a second) names the dead service down, the platform degraded.
    if (std::string(service) != "gateway") {
      CHECK(PollFor([&] { return stack.StatusUp(service); },
                    [](std::optional<bool> up) { return up == false; }, absl::Seconds(3),
                    absl::Milliseconds(200)) == false);
      CHECK(Json::parse(HttpRequestTo(stack->http_port(), "GET", "/status").body, nullptr, false)
                .value("status", "") == "degraded");
    }
    absl::SleepFor(absl::Seconds(2));
    load.SetPhase(absl::StrCat(service, " restarting"));
    stack->Restart(service);
    if (!stack->WaitHealthy(service, absl::Seconds(30))) FAIL(stack->Log(service));
    CHECK(PollFor([&] { return stack.StatusUp(service); },
                  [](std::optional<bool> up) { return up == true; }, absl::Seconds(10),
                  absl::Milliseconds(200)) == true);
    load.SetPhase(absl::StrCat("after ", service));
    absl::SleepFor(absl::Seconds(1));

    CheckWhileDead(load, dead, service, kDeadlineBound);
  }
  SettleAndReckon(load, stack.user());
}

TEST_CASE("SIGSTOP of storage and tasks under load: deadlines fire, queues bounded, recovery",
          "[faults]") {
  Stack stack;
  stack.StartAll();
  Load load(stack.user(), "faults");
  absl::SleepFor(absl::Seconds(2));
  std::string before = "warm-up";
  for (const char* service : {"storage", "tasks"}) {
    INFO("paused " << service);
    const std::string paused = absl::StrCat(service, " paused");
    stack->process(service).Signal(SIGSTOP);
    load.SetPhase(paused);
    // The gateway's open connections while the service stands still: the clients' requests, not
    // a pile that grows with time.
    double max_connections = 0;
    const absl::Time until = absl::Now() + absl::Seconds(5);
    while (absl::Now() < until) {
      const std::optional<double> open = stack.Metric("spine_gateway_open_connections ");
      if (open.has_value()) max_connections = std::max(max_connections, *open);
      absl::SleepFor(absl::Milliseconds(250));
    }
    stack->process(service).Signal(SIGCONT);
    load.SetPhase(absl::StrCat("after ", service));
    absl::SleepFor(absl::Seconds(3));
    // Every request sent while it stood still, also those answered after SIGCONT.
    const std::map<Route, PhaseSummary> summary = Summarise(load, paused, true);
    std::printf("[faults] %s: gateway open connections at most %.0f\n", paused.c_str(),
                max_connections);
    std::fflush(stdout);
    // The load's clients plus this loop's own /metrics request (and /status refreshes).
    CHECK(max_connections <= kFaultClients + 2);
    // Also the requests sent just before the pause that were still waiting when it began.
    std::vector<Outcome> felt = load.Outcomes(paused, true);
    for (const Outcome& outcome : load.Outcomes(before, true)) {
      if (outcome.straddled) felt.push_back(outcome);
    }
    int failed_needing = 0;
    for (const Outcome& outcome : felt) {
      INFO(Describe(outcome));
      CHECK(outcome.latency < kDeadlineBound);
      if (outcome.status / 100 != 2) {
        CHECK((outcome.status == 503 || outcome.status == 504));
        if (Needs(outcome.route).count(service) > 0) ++failed_needing;
      }
    }
    CHECK(failed_needing > 0);  // the pause was felt: deadlines fired
    before = absl::StrCat("after ", service);
    // Afterwards every route answers again, without a restart.
    const std::map<Route, PhaseSummary> after = Summarise(load, absl::StrCat("after ", service));
    for (const auto& [route, s] : after) {
      INFO(Name(route));
      CHECK(s.ok > 0);
    }
  }
  load.SetPhase("settled");
  absl::SleepFor(absl::Seconds(2));
  load.Stop();
  for (const auto& [route, s] : Summarise(load, "settled")) {
    INFO(Name(route));
    CHECK(s.failed == 0);
  }
  CheckThoughtSets(stack.user(), load);
  CheckRuns(stack.user(), load);
}

// Issue 18: a request that needs a dead service is refused within 1 s, each of several tries
// (the first after the kill finds a broken connection, the next a reconnecting channel).
TEST_CASE("a request that needs a dead service is refused within 1 s", "[faults]") {
  Stack stack;
  stack.StartAll();
  const std::map<std::string, Route> victims = {
      {"storage", Route::kRun}, {"llm", Route::kGenerate}, {"plugins", Route::kInvoke}};
  for (const auto& [service, route] : victims) {
    stack->process(service).Signal(SIGKILL);
    REQUIRE(stack->process(service).WaitExit(absl::Seconds(5)).has_value());
    absl::Duration slowest = absl::ZeroDuration();
    std::string slowest_answer;
    for (int i = 0; i < 8; ++i) {
      const absl::Time start = absl::Now();
      HttpResult result;
      if (route == Route::kRun) {
        result = stack.Call("POST", "/api/runs",
                            {{"definition", RunDefinition()}, {"input", {{"text", "x"}}}});
      } else if (route == Route::kGenerate) {
        result = stack.Call("POST", "/api/llm/generate", {{"model", "stub"}, {"prompt", "x"}});
      } else {
        result = stack.Call("POST", "/api/plugins/hello-world/invoke", {{"input", Json::object()}});
      }
      const absl::Duration took = absl::Now() - start;
      CHECK((result.status == 503 || result.status == 504));
      if (took > slowest) {
        slowest = took;
        slowest_answer = absl::StrCat(result.status, " ", ReasonOf(result));
      }
      absl::SleepFor(absl::Milliseconds(150));
    }
    std::printf("[faults] %s dead: slowest refusal of %s %lld ms (%s)\n", service.c_str(),
                Name(route), static_cast<long long>(absl::ToInt64Milliseconds(slowest)),
                slowest_answer.c_str());
    std::fflush(stdout);
    CHECK(slowest < kRefusalBound);
    stack->Restart(service);
    REQUIRE(stack->WaitHealthy(service, absl::Seconds(30)));
  }
}

// A tmpfs of `megabytes` mounted on `path` for the test's life (lazily unmounted at the end).
class SmallFilesystem {
 public:
  SmallFilesystem(const std::string& path, int megabytes) : path_(path) {
    mkdir(path.c_str(), 0700);
    const std::string options = absl::StrCat("size=", megabytes, "m,mode=0700");
    if (mount("tmpfs", path.c_str(), "tmpfs", 0, options.c_str()) == 0) {
      mounted_ = true;
    } else {
      error_ = std::strerror(errno);
    }
  }
  ~SmallFilesystem() {
    if (mounted_) umount2(path_.c_str(), MNT_DETACH);
  }
  SmallFilesystem(const SmallFilesystem&) = delete;
  SmallFilesystem& operator=(const SmallFilesystem&) = delete;

  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }

 private:
  std::string path_;
  bool mounted_ = false;
  std::string error_;
};

TEST_CASE("disk full on storage's data directory: 503 naming it, reads work, intact after",
          "[faults]") {
  Stack stack;
  // Every service's SPINE_DATA_DIR, storage's spine.db among them, on a 16 MB filesystem.
  SmallFilesystem disk(stack->data_dir(), 16);
  if (!disk.mounted()) {
    // Not a silent pass: the reason is in the test's output.
    WARN("SKIPPED: cannot mount a tmpfs on " << stack->data_dir() << ": " << disk.error()
                                             << " (the test needs CAP_SYS_ADMIN, e.g. root)");
    return;
  }
  stack.StartAll();
  const std::string db = stack->data_dir() + "/spine.db";
  // Some thoughts to read back while the disk is full.
  std::vector<std::string> ids;
  std::set<std::string> asked_directly;  // the texts this test writes itself, beside the load
  for (int i = 0; i < 5; ++i) {
    asked_directly.insert(absl::StrCat("before-full-", i));
    const HttpResult created =
        stack.Call("POST", "/api/thoughts", {{"text", absl::StrCat("before-full-", i)}});
    REQUIRE(created.status == 201);
    ids.push_back(Json::parse(created.body)["id"]);
  }
  Load load(stack.user(), "faults");
  absl::SleepFor(absl::Seconds(1));
  load.SetPhase("disk full");
  // Fill what is left (dd stops at ENOSPC).
  const ShellResult filled = RunShell(
      absl::StrCat("dd if=/dev/zero of=", ShellQuote(stack->data_dir() + "/filler"), " bs=64k"));
  INFO(filled.output);
  REQUIRE(absl::StrContains(filled.output, "No space left on device"));
  // SQLite may still fit a few writes into pages its WAL already has; then writes must fail.
  HttpResult refused;
  int n = 0;
  PollUntil(
      [&] {
        const std::string text = absl::StrCat("while-full-", n++, std::string(2000, 'x'));
        asked_directly.insert(text);
        refused = stack.Call("POST", "/api/thoughts", {{"text", text}});
        return refused.status != 201;
      },
      absl::Seconds(20), absl::Milliseconds(10));
  INFO(refused.status << " " << refused.body);
  CHECK(refused.status == 503);
  CHECK(IsApiError(refused));
  CHECK(ReasonOf(refused) == "DISK_FULL");
  CHECK(absl::StrContains(absl::AsciiStrToLower(refused.body), "disk"));
  // Reads keep working while it is full.
  for (const std::string& id : ids) {
    const HttpResult got = stack.Call("GET", "/api/thoughts/" + id);
    INFO(got.body);
    CHECK(got.status == 200);
  }
  CHECK(stack.Call("GET", "/api/thoughts?pageSize=5").status == 200);
  absl::SleepFor(absl::Seconds(2));
  load.SetPhase("space freed");
  REQUIRE(std::remove((stack->data_dir() + "/filler").c_str()) == 0);
  asked_directly.insert("after-full");
  const HttpResult after = PollFor(
      [&] {
        return stack.Call("POST", "/api/thoughts", {{"text", "after-full"}});
      },
      [](const HttpResult& seen) { return seen.status == 201; }, absl::Seconds(10),
      absl::Milliseconds(100));
  INFO(after.body);
  CHECK(after.status == 201);
  absl::SleepFor(absl::Seconds(2));
  load.Stop();
  // While full: every thought write that failed said why (503 DISK_FULL), and quickly.
  std::map<std::string, int> create_failures;
  for (const Outcome& outcome : load.Outcomes("disk full")) {
    if (outcome.route != Route::kCreate || outcome.status == 201) continue;
    ++create_failures[absl::StrCat(outcome.status, " ",
                                   outcome.reason.substr(0, outcome.reason.find(' ')))];
    INFO(Describe(outcome));
    CHECK(outcome.status == 503);
    CHECK(absl::StartsWith(outcome.reason, "DISK_FULL"));
  }
  std::string failures;
  for (const auto& [what, count] : create_failures)
    absl::StrAppend(&failures, " ", what, " x", count);
  std::printf("[faults] disk full: create failures:%s\n", failures.c_str());
  Summarise(load, "disk full");
  Summarise(load, "space freed");
  for (const Outcome& outcome : load.Outcomes("disk full")) {
    if (outcome.route != Route::kRead) continue;
    INFO(Describe(outcome));
    CHECK(outcome.status == 200);
  }
  CheckThoughtSets(stack.user(), load, asked_directly);
  // Nothing corrupt: SQLite's own check of the file storage writes (read-only, beside it).
  const ShellResult integrity =
      RunShell(absl::StrCat("sqlite3 -readonly ", ShellQuote(db), " 'PRAGMA integrity_check'"));
  std::printf("[faults] disk full: PRAGMA integrity_check: %s", integrity.output.c_str());
  std::fflush(stdout);
  CHECK(integrity.exit_code == 0);
  CHECK(integrity.output == "ok\n");
}

}  // namespace spine::testing
