// The fault tests' load and their reckoning afterwards (issue 18), shared by tests/faults (the
// stack as local processes) and tests/compose (the docker-compose stack, `docker kill`): a mix of
// the main routes through one gateway port at about 10x the plan's rate, each request recorded
// with the phase of the fault it started in; afterwards, in the manner of Jepsen, set arithmetic
// over the thoughts (every one carries a unique text) and the runs, printed.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "tests/support/http_client.h"

namespace spine::testing {

// One client per route, each one request every 125 ms at most: about 40 requests/s, 10x the
// plan's 250 a minute (a route whose answers take longer, the runs, sends fewer).
inline constexpr int kFaultClients = 5;
inline constexpr absl::Duration kFaultPace = absl::Milliseconds(125);
// How long a request that needs a dead service may take to be refused (issue 18: "within 1 s").
inline constexpr absl::Duration kRefusalBound = absl::Seconds(1);
// The `waitMs` of the load's runs.
inline constexpr int kRunWaitMs = 1000;

// One user's authenticated calls to one gateway's HTTP port on 127.0.0.1. Thread-safe.
class GatewayUser {
 public:
  GatewayUser(int port, std::string bearer) : port_(port), bearer_(std::move(bearer)) {}

  HttpResult Call(const std::string& method, const std::string& path,
                  const nlohmann::json& body = nullptr) const;
  int port() const { return port_; }

 private:
  int port_;
  std::string bearer_;  // "Bearer <access token>"
};

enum class Route { kCreate, kRead, kGenerate, kInvoke, kRun };

const char* Name(Route route);
// The services a route cannot answer without (besides the gateway). A run is accepted by
// spine-tasks, which stores it in spine-storage; its steps run later (or after a restart).
std::set<std::string> Needs(Route route);
// The load's pipeline: an LLM step (model `stub`), then hello-world.
const nlohmann::json& RunDefinition();

struct Outcome {
  Route route;
  std::string phase;  // what the fault injector was doing when the request started
  int status = 0;
  std::string reason;  // error.details[0].reason, when the answer is an API error
  absl::Duration latency;
  bool straddled = false;  // the phase changed before the answer came
};

// error.details[0].reason of an API error answer, or "".
std::string ReasonOf(const HttpResult& result);
// The API's error shape: {"error": {"code", "message", "details": [{"reason", ...}]}}.
bool IsApiError(const HttpResult& result);
// "plugin invoke -> 503 in 4 ms: UPSTREAM_UNAVAILABLE ...", for failure messages.
std::string Describe(const Outcome& outcome);

// /status's view of one service on the gateway at `port`: true when up, nullopt when /status
// does not answer or does not name it.
std::optional<bool> StatusUp(int port, const std::string& service);

// The load: kFaultClients threads, each going round the routes, every request recorded with the
// phase it started in. Thought texts are unique ("<label>-c<client>-n<request>"); every text
// asked for and every one acknowledged is kept, as is every run the API accepted. `label` also
// starts every line the reckoning below prints ("[label] ..."). Starts at construction; Stop()
// (or destruction) joins the clients.
class Load {
 public:
  Load(const GatewayUser& user, std::string label);
  ~Load() { Stop(); }
  Load(const Load&) = delete;
  Load& operator=(const Load&) = delete;

  void Stop();
  void SetPhase(const std::string& phase);

  // The requests that started in `phase` (and, unless `straddling`, also ended in it).
  std::vector<Outcome> Outcomes(const std::string& phase, bool straddling = false) const;
  std::set<std::string> asked() const;
  std::map<std::string, std::string> acknowledged() const;  // text → id
  std::vector<std::string> accepted_runs() const;
  const std::string& label() const { return label_; }

 private:
  void Client(int c);

  const GatewayUser& user_;
  const std::string label_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::string phase_ = "warm-up";
  std::vector<Outcome> outcomes_;
  std::set<std::string> asked_;
  std::map<std::string, std::string> acknowledged_;
  std::vector<std::string> accepted_runs_;
  std::vector<std::thread> clients_;
};

struct PhaseSummary {
  int requests = 0, ok = 0, failed = 0;
  absl::Duration max_failed_latency = absl::ZeroDuration();
  absl::Duration max_latency = absl::ZeroDuration();
};

// Prints, per route, what the requests started in `phase` got.
std::map<Route, PhaseSummary> Summarise(const Load& load, const std::string& phase,
                                        bool straddling = false);

// The requests that started while `service` was dead (also those answered after its restart
// began): with the gateway dead the connection is refused at once (< kRefusalBound); a route
// that needs the service answers 503 or 504 with a reason in less than kRefusalBound (or,
// answered after the restart began, succeeds); every other route succeeds; none takes
// `deadline_bound` or longer. Prints the summary.
void CheckWhileDead(const Load& load, const std::string& phase, const std::string& service,
                    absl::Duration deadline_bound);

// Jepsen's set arithmetic over the user's thoughts, printed: nothing acknowledged lost (or under
// another id), nothing unasked, nothing twice. `asked_directly`: texts the test wrote itself,
// beside the load. The user must have no thoughts but these and the load's.
void CheckThoughtSets(const GatewayUser& user, const Load& load,
                      const std::set<std::string>& asked_directly = {});

// Every accepted run reaches a terminal state, is listed exactly once and was accepted once;
// printed with the final states.
void CheckRuns(const GatewayUser& user, const Load& load);

// The end of a kill test, every service back: two more seconds of load in which every request
// must succeed, then the load stops and the sets are reckoned (CheckThoughtSets, CheckRuns).
void SettleAndReckon(Load& load, const GatewayUser& user);

}  // namespace spine::testing
