// Faults under load (issue 18): the whole stack runs a mix of the main routes through the
// gateway at about 10x the plan's rate while a service is SIGKILLed (then restarted alone),
// SIGSTOPped (then continued) or its data directory runs out of space. In the manner of Jepsen
// every thought carries a unique text, and afterwards set arithmetic says what was lost, what
// appeared unasked and what was duplicated; the test prints it with the latencies it measured.
#include <sys/mount.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
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
#include "tests/support/http_client.h"
#include "tests/support/poll.h"
#include "tests/support/shell.h"

namespace spine::testing {
namespace {

using Json = nlohmann::json;

// One client per route, each one request every 125 ms at most: about 40 requests/s, 10x the
// plan's 250 a minute (a route whose answers take longer, the runs, sends fewer).
constexpr int kClients = 5;
constexpr absl::Duration kPace = absl::Milliseconds(125);
// The gateway's deadline for internal calls in these stacks: shorter than the pause, so a paused
// service's deadlines really fire.
constexpr int kDeadlineMs = 2000;
// How long a request that needs a dead service may take to be refused (issue 18: "within 1 s").
constexpr absl::Duration kRefusalBound = absl::Seconds(1);
// The longest deadline the gateway gives a route of the mix (runs: waitMs 1 s + 2 s; the others
// SPINE_RPC_DEADLINE_MS), plus a second for a busy machine: no request may take longer.
constexpr absl::Duration kDeadlineBound = absl::Seconds(4);

enum class Route { kCreate, kRead, kGenerate, kInvoke, kRun };
constexpr Route kRoutes[] = {Route::kCreate, Route::kRead, Route::kGenerate, Route::kInvoke,
                             Route::kRun};

const char* Name(Route route) {
  switch (route) {
    case Route::kCreate:
      return "thought create";
    case Route::kRead:
      return "thought read";
    case Route::kGenerate:
      return "llm generate";
    case Route::kInvoke:
      return "plugin invoke";
    case Route::kRun:
      return "pipeline run";
  }
  return "?";
}

// The services a route cannot answer without (besides the gateway). A run is accepted by
// spine-tasks, which stores it in spine-storage; its steps run later (or after a restart).
std::set<std::string> Needs(Route route) {
  switch (route) {
    case Route::kCreate:
    case Route::kRead:
      return {"storage"};
    case Route::kGenerate:
      return {"llm"};
    case Route::kInvoke:
      return {"plugins"};
    case Route::kRun:
      return {"tasks", "storage"};
  }
  return {};
}

// LLM then plugin, as the brief's mix asks.
const Json kRunDefinition = Json::parse(R"({"schemaVersion": 1, "steps": [
  {"id": "draft", "llm": {"model": "stub", "prompt": "Say: {{input.text}}"}},
  {"id": "greet", "plugin": {"name": "hello-world", "input": {"name": "{{steps.draft.output.text}}"}}}],
  "output": {"greeting": "{{steps.greet.output.greeting}}"}})");

struct Outcome {
  Route route;
  std::string phase;  // what the fault injector was doing when the request started
  int status = 0;
  std::string reason;  // error.details[0].reason, when the answer is an API error
  absl::Duration latency;
  bool straddled = false;  // the phase changed before the answer came
};

std::string ReasonOf(const HttpResult& result) {
  const Json body = Json::parse(result.body, nullptr, false);
  if (!body.is_object()) return "";
  const auto error = body.find("error");
  if (error == body.end() || !error->is_object()) return "";
  const auto details = error->find("details");
  if (details == error->end() || !details->is_array() || details->empty() ||
      !details->front().is_object()) {
    return "";
  }
  const auto reason = details->front().find("reason");
  return reason != details->front().end() && reason->is_string() ? reason->get<std::string>() : "";
}

// The API's error shape: {"error": {"code", "message", "details": [{"reason", ...}]}}.
bool IsApiError(const HttpResult& result) {
  const Json body = Json::parse(result.body, nullptr, false);
  return !ReasonOf(result).empty() && body["error"].contains("message");
}

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
    bearer_ = "Bearer " + *signer.Sign("7", "user7", "user");
  }

  HttpResult Call(const std::string& method, const std::string& path,
                  const Json& body = nullptr) const {
    std::map<std::string, std::string> headers = {{"Authorization", bearer_}};
    if (!body.is_null()) headers.emplace("Content-Type", "application/json");
    return HttpRequestTo(stack_.http_port(), method, path, headers,
                         body.is_null() ? "" : body.dump());
  }

  // /status's view of one service: true when up.
  std::optional<bool> StatusUp(const std::string& service) const {
    const Json status =
        Json::parse(HttpRequestTo(stack_.http_port(), "GET", "/status").body, nullptr, false);
    if (!status.is_object() || !status.contains("services") ||
        !status["services"].contains(service)) {
      return std::nullopt;
    }
    return status["services"][service].value("up", false);
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
  std::string bearer_;
};

// The load: kClients threads, each going round the routes, every request recorded with the phase
// it started in. Thought texts are unique; every text asked for and every one acknowledged is
// kept, as is every run the API accepted.
class Load {
 public:
  explicit Load(const Stack& stack) : stack_(stack) {
    for (int c = 0; c < kClients; ++c) clients_.emplace_back([this, c] { Client(c); });
  }
  ~Load() { Stop(); }
  Load(const Load&) = delete;
  Load& operator=(const Load&) = delete;

  void Stop() {
    stop_ = true;
    for (auto& client : clients_) {
      if (client.joinable()) client.join();
    }
  }

  void SetPhase(const std::string& phase) {
    std::lock_guard<std::mutex> lock(mu_);
    phase_ = phase;
  }

  // The requests that started in `phase` (and, unless `straddling`, also ended in it).
  std::vector<Outcome> Outcomes(const std::string& phase, bool straddling = false) const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Outcome> matching;
    for (const Outcome& outcome : outcomes_) {
      if (outcome.phase == phase && (straddling || !outcome.straddled)) matching.push_back(outcome);
    }
    return matching;
  }

  std::set<std::string> asked() const {
    std::lock_guard<std::mutex> lock(mu_);
    return asked_;
  }
  std::map<std::string, std::string> acknowledged() const {  // text → id
    std::lock_guard<std::mutex> lock(mu_);
    return acknowledged_;
  }
  std::vector<std::string> accepted_runs() const {
    std::lock_guard<std::mutex> lock(mu_);
    return accepted_runs_;
  }

 private:
  void Client(int c) {
    std::string last_id;
    for (int n = 0; !stop_; ++n) {
      const absl::Time due = absl::Now() + kPace;
      const Route route = kRoutes[c % std::size(kRoutes)];
      std::string phase;
      {
        std::lock_guard<std::mutex> lock(mu_);
        phase = phase_;
      }
      const std::string text = absl::StrCat("faults-c", c, "-n", n);
      if (route == Route::kCreate) {
        std::lock_guard<std::mutex> lock(mu_);
        asked_.insert(text);
      }
      const absl::Time start = absl::Now();
      HttpResult result;
      switch (route) {
        case Route::kCreate:
          result = stack_.Call("POST", "/api/thoughts", {{"text", text}, {"tags", {"faults"}}});
          break;
        case Route::kRead:
          result = stack_.Call(
              "GET", last_id.empty() ? "/api/thoughts?pageSize=5" : "/api/thoughts/" + last_id);
          break;
        case Route::kGenerate:
          result = stack_.Call("POST", "/api/llm/generate", {{"model", "stub"}, {"prompt", text}});
          break;
        case Route::kInvoke:
          result =
              stack_.Call("POST", "/api/plugins/hello-world/invoke", {{"input", {{"name", text}}}});
          break;
        case Route::kRun:
          result = stack_.Call(
              "POST", "/api/runs",
              {{"definition", kRunDefinition}, {"input", {{"text", text}}}, {"waitMs", 1000}});
          break;
      }
      Outcome outcome{route, phase, result.status, ReasonOf(result), absl::Now() - start};
      const Json body = Json::parse(result.body, nullptr, false);
      std::lock_guard<std::mutex> lock(mu_);
      outcome.straddled = phase_ != phase;
      if (route == Route::kCreate && result.status == 201 && body.is_object()) {
        last_id = body.value("id", "");
        acknowledged_[text] = last_id;
      }
      if (route == Route::kRun && (result.status == 200 || result.status == 202) &&
          body.is_object() && body.contains("id")) {
        accepted_runs_.push_back(body["id"]);
      }
      if (outcome.status >= 500 || outcome.status == 0 || outcome.status == 429) {
        // Kept for the failure message: what the stack answered.
        outcome.reason = absl::StrCat(outcome.reason, " ", result.body.substr(0, 160));
      }
      outcomes_.push_back(std::move(outcome));
      absl::SleepFor(due - absl::Now());  // negative after a slow request: no pause
    }
  }

  const Stack& stack_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::string phase_ = "warm-up";
  std::vector<Outcome> outcomes_;
  std::set<std::string> asked_;
  std::map<std::string, std::string> acknowledged_;
  std::vector<std::string> accepted_runs_;
  std::vector<std::thread> clients_;
};

// Every thought of user 7, text → ids (a text twice would be a duplicate).
std::map<std::string, std::vector<std::string>> StoredThoughts(const Stack& stack) {
  std::map<std::string, std::vector<std::string>> stored;
  std::string token;
  while (true) {
    const HttpResult page = stack.Call(
        "GET", "/api/thoughts?pageSize=100" + (token.empty() ? "" : "&pageToken=" + token));
    INFO(page.body);
    REQUIRE(page.status == 200);
    const Json body = Json::parse(page.body);
    for (const Json& thought : body.value("thoughts", Json::array())) {
      stored[thought.value("text", "")].push_back(thought.value("id", ""));
    }
    token = body.value("nextPageToken", "");
    if (token.empty()) break;
  }
  return stored;
}

template <typename Set>
std::string Sample(const Set& set) {
  std::string out;
  int n = 0;
  for (const auto& item : set) {
    if (++n > 5) break;
    absl::StrAppend(&out, n > 1 ? ", " : "", item);
  }
  return out;
}

// Jepsen's set arithmetic over the thoughts, printed; nothing acknowledged lost, nothing
// unasked, nothing twice.
void CheckThoughtSets(const Stack& stack, const Load& load,
                      const std::set<std::string>& asked_directly = {}) {
  std::set<std::string> asked = load.asked();
  asked.insert(asked_directly.begin(), asked_directly.end());
  const std::map<std::string, std::string> acknowledged = load.acknowledged();
  const std::map<std::string, std::vector<std::string>> stored = StoredThoughts(stack);
  std::set<std::string> lost, unexpected, duplicated, wrong_id;
  size_t indeterminate_present = 0;
  for (const auto& [text, id] : acknowledged) {
    const auto it = stored.find(text);
    if (it == stored.end()) {
      lost.insert(text);
    } else if (std::find(it->second.begin(), it->second.end(), id) == it->second.end()) {
      wrong_id.insert(text);
    }
  }
  for (const auto& [text, ids] : stored) {
    if (asked.count(text) == 0) unexpected.insert(text);
    if (ids.size() > 1) duplicated.insert(text);
    if (acknowledged.count(text) == 0 && asked.count(text) == 1 &&
        asked_directly.count(text) == 0) {
      ++indeterminate_present;
    }
  }
  std::printf(
      "[faults] thoughts: asked %zu, acknowledged %zu, present %zu, "
      "unacknowledged-but-present %zu | lost %zu, unexpected %zu, duplicated %zu, wrong id %zu\n",
      asked.size(), acknowledged.size(), stored.size(), indeterminate_present, lost.size(),
      unexpected.size(), duplicated.size(), wrong_id.size());
  std::fflush(stdout);
  CHECK(acknowledged.size() > 20);  // the load really wrote
  INFO("lost: " << Sample(lost) << "; unexpected: " << Sample(unexpected)
                << "; duplicated: " << Sample(duplicated) << "; wrong id: " << Sample(wrong_id));
  CHECK(lost.empty());
  CHECK(unexpected.empty());
  CHECK(duplicated.empty());
  CHECK(wrong_id.empty());
}

// Every accepted run reaches a terminal state and is listed exactly once.
void CheckRuns(const Stack& stack, const Load& load) {
  const std::vector<std::string> accepted = load.accepted_runs();
  std::map<std::string, int> accepted_count;
  for (const std::string& id : accepted) ++accepted_count[id];
  std::map<std::string, std::string> final_state;
  std::map<std::string, int> state_counts;
  for (const auto& entry : accepted_count) {
    const std::string& id = entry.first;  // a name, not a binding: the lambda below captures it
    const Json run = PollFor(
        [&] {
          const HttpResult got = stack.Call("GET", "/api/runs/" + id);
          return got.status == 200 ? Json::parse(got.body, nullptr, false) : Json(nullptr);
        },
        [](const Json& seen) {
          if (!seen.is_object()) return false;
          const std::string state = seen.value("state", "");
          return state == "SUCCEEDED" || state == "FAILED" || state == "CANCELLED";
        },
        absl::Seconds(30), absl::Milliseconds(100));
    final_state[id] = run.is_object() ? run.value("state", "?") : "unreadable";
    ++state_counts[final_state[id]];
  }
  // The runs list: each accepted run once.
  std::map<std::string, int> listed;
  std::string token;
  while (true) {
    const HttpResult page =
        stack.Call("GET", "/api/runs?pageSize=100" + (token.empty() ? "" : "&pageToken=" + token));
    REQUIRE(page.status == 200);
    const Json body = Json::parse(page.body);
    for (const Json& run : body.value("runs", Json::array())) ++listed[run.value("id", "")];
    token = body.value("nextPageToken", "");
    if (token.empty()) break;
  }
  std::set<std::string> not_terminal, missing, twice, accepted_twice;
  for (const auto& [id, count] : accepted_count) {
    if (count > 1) accepted_twice.insert(id);
    const std::string& state = final_state[id];
    if (state != "SUCCEEDED" && state != "FAILED" && state != "CANCELLED") not_terminal.insert(id);
    if (listed.count(id) == 0) missing.insert(id);
  }
  for (const auto& [id, count] : listed) {
    if (count > 1) twice.insert(id);
  }
  std::string states;
  for (const auto& [state, count] : state_counts) absl::StrAppend(&states, " ", state, "=", count);
  std::printf(
      "[faults] runs: accepted %zu, listed %zu, final states:%s | not terminal %zu, missing "
      "%zu, listed twice %zu, accepted twice %zu\n",
      accepted_count.size(), listed.size(), states.c_str(), not_terminal.size(), missing.size(),
      twice.size(), accepted_twice.size());
  std::fflush(stdout);
  CHECK(accepted_count.size() > 5);
  INFO("not terminal: " << Sample(not_terminal) << "; missing: " << Sample(missing)
                        << "; twice: " << Sample(twice));
  CHECK(not_terminal.empty());
  CHECK(missing.empty());
  CHECK(twice.empty());
  CHECK(accepted_twice.empty());
}

struct PhaseSummary {
  int requests = 0, ok = 0, failed = 0;
  absl::Duration max_failed_latency = absl::ZeroDuration();
  absl::Duration max_latency = absl::ZeroDuration();
};

// Prints, per route, what the requests started in `phase` got.
std::map<Route, PhaseSummary> Summarise(const Load& load, const std::string& phase,
                                        bool straddling = false) {
  std::map<Route, PhaseSummary> summary;
  for (const Outcome& outcome : load.Outcomes(phase, straddling)) {
    PhaseSummary& s = summary[outcome.route];
    ++s.requests;
    s.max_latency = std::max(s.max_latency, outcome.latency);
    if (outcome.status >= 200 && outcome.status < 300) {
      ++s.ok;
    } else {
      ++s.failed;
      s.max_failed_latency = std::max(s.max_failed_latency, outcome.latency);
    }
  }
  std::string line = absl::StrCat("[faults] ", phase, ":");
  for (const auto& [route, s] : summary) {
    absl::StrAppend(&line, " ", Name(route), " ", s.ok, "/", s.requests, " ok, max ",
                    absl::ToInt64Milliseconds(s.max_latency), " ms");
    if (s.failed > 0) {
      absl::StrAppend(&line, " (failed: max ", absl::ToInt64Milliseconds(s.max_failed_latency),
                      " ms)");
    }
    absl::StrAppend(&line, ";");
  }
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
  return summary;
}

std::string Describe(const Outcome& outcome) {
  return absl::StrCat(Name(outcome.route), " -> ", outcome.status, " in ",
                      absl::ToInt64Milliseconds(outcome.latency), " ms: ", outcome.reason);
}

}  // namespace

TEST_CASE("SIGKILL of each service under load: refused fast, the rest answer, nothing lost",
          "[faults]") {
  Stack stack;
  stack.StartAll();
  Load load(stack);
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

    Summarise(load, dead);
    for (const Outcome& outcome : load.Outcomes(dead)) {
      INFO(Describe(outcome));
      if (std::string(service) == "gateway") {
        // Nothing listens: the connection is refused at once.
        CHECK(outcome.status == 0);
        CHECK(outcome.latency < kRefusalBound);
      } else if (Needs(outcome.route).count(service) > 0) {
        CHECK((outcome.status == 503 || outcome.status == 504));
        CHECK(!outcome.reason.empty());
        // Refused, not left to wait out a deadline (issue 18: within 1 s).
        CHECK(outcome.latency < kRefusalBound);
      } else {
        CHECK(outcome.status / 100 == 2);
      }
    }
  }
  load.SetPhase("settled");
  absl::SleepFor(absl::Seconds(2));
  load.Stop();
  // Every route answers again, without any other restart.
  Summarise(load, "settled");
  for (const Outcome& outcome : load.Outcomes("settled")) {
    INFO(Describe(outcome));
    CHECK(outcome.status / 100 == 2);
  }
  CheckThoughtSets(stack, load);
  CheckRuns(stack, load);
}

TEST_CASE("SIGSTOP of storage and tasks under load: deadlines fire, queues bounded, recovery",
          "[faults]") {
  Stack stack;
  stack.StartAll();
  Load load(stack);
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
    CHECK(max_connections <= kClients + 2);
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
  CheckThoughtSets(stack, load);
  CheckRuns(stack, load);
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
                            {{"definition", kRunDefinition}, {"input", {{"text", "x"}}}});
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
  Load load(stack);
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
  CheckThoughtSets(stack, load, asked_directly);
  // Nothing corrupt: SQLite's own check of the file storage writes (read-only, beside it).
  const ShellResult integrity =
      RunShell(absl::StrCat("sqlite3 -readonly ", ShellQuote(db), " 'PRAGMA integrity_check'"));
  std::printf("[faults] disk full: PRAGMA integrity_check: %s", integrity.output.c_str());
  std::fflush(stdout);
  CHECK(integrity.exit_code == 0);
  CHECK(integrity.output == "ok\n");
}

}  // namespace spine::testing
