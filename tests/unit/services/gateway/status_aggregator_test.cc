#include "services/gateway/ops/status_aggregator.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "libs/core/clock.h"
#include "libs/rpc/channel.h"
#include "libs/rpc/status_probe.h"
#include "nlohmann/json.hpp"
#include "services/gateway/ops/grpc_service_prober.h"

namespace spine::gateway {
namespace {

using Json = nlohmann::json;
using spine::v1::ServiceStatus;

ServiceStatus Up(const std::string& service, double heap_used_mb) {
  ServiceStatus status;
  status.set_service(service);
  status.set_up(true);
  status.set_version("0.1.0");
  status.set_rss_mb(heap_used_mb * 2);
  status.set_heap_used_mb(heap_used_mb);
  status.set_uptime_seconds(42);
  if (service == "storage") status.set_db_conn(true);
  if (service == "tasks") status.set_queue_lag_ms(250);
  if (service == "plugins") status.set_plugin_sandbox_alive(true);
  return status;
}

// Answers each service with what the test set (default: up), at once on the calling thread;
// services put on hold keep their callbacks until the test releases them.
class FakeProber final : public ServiceProber {
 public:
  FakeProber() {
    for (const char* service : {"gateway", "storage", "llm", "plugins", "tasks"}) {
      answers_.insert_or_assign(service, Up(service, 10));
    }
  }

  void Set(const std::string& service, absl::StatusOr<ServiceStatus> answer) {
    absl::MutexLock lock(&mu_);
    answers_.insert_or_assign(service, std::move(answer));
  }
  void Hold(const std::string& service) {
    absl::MutexLock lock(&mu_);
    held_services_.push_back(service);
  }
  // New calls answer again; calls already held stay held.
  void StopHolding() {
    absl::MutexLock lock(&mu_);
    held_services_.clear();
  }
  // Answers every held call with `answer` and stops holding.
  void Release(const absl::StatusOr<ServiceStatus>& answer) {
    std::vector<Callback> held;
    {
      absl::MutexLock lock(&mu_);
      held.swap(held_calls_);
      held_services_.clear();
    }
    for (Callback& done : held) done(answer);
  }
  int Calls(const std::string& service) {
    absl::MutexLock lock(&mu_);
    return calls_[service];
  }
  std::vector<absl::Duration> Timeouts() {
    absl::MutexLock lock(&mu_);
    return timeouts_;
  }

  void Probe(const std::string& service, absl::Duration timeout, Callback done) override {
    absl::StatusOr<ServiceStatus> answer;
    {
      absl::MutexLock lock(&mu_);
      ++calls_[service];
      timeouts_.push_back(timeout);
      if (std::find(held_services_.begin(), held_services_.end(), service) !=
          held_services_.end()) {
        held_calls_.push_back(std::move(done));
        return;
      }
      const auto it = answers_.find(service);
      answer = it == answers_.end() ? absl::NotFoundError(service) : it->second;
    }
    done(std::move(answer));
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, absl::StatusOr<ServiceStatus>> answers_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> held_services_ ABSL_GUARDED_BY(mu_);
  std::vector<Callback> held_calls_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> calls_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Duration> timeouts_ ABSL_GUARDED_BY(mu_);
};

// Collects Get's answers; with the fake prober they arrive inline unless a probe is held.
class Answers {
 public:
  std::function<void(std::string)> Catch() {
    return [this](std::string json) {
      absl::MutexLock lock(&mu_);
      answers_.push_back(std::move(json));
    };
  }
  std::vector<std::string> Take() {
    absl::MutexLock lock(&mu_);
    return std::move(answers_);
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> answers_ ABSL_GUARDED_BY(mu_);
};

// Get's answer, parsed, when it comes inline.
Json GetNow(StatusAggregator& aggregator) {
  std::optional<std::string> answer;
  aggregator.Get([&answer](std::string json) { answer = std::move(json); });
  REQUIRE(answer.has_value());
  return Json::parse(*answer);
}

TEST_CASE("all services up: status ok with summed heap and every field in API.md") {
  FakeClock clock;
  FakeProber prober;
  prober.Set("llm", Up("llm", 30.5));
  StatusAggregator aggregator(prober, clock);

  const Json body = GetNow(aggregator);
  INFO(body.dump());
  CHECK(body["status"] == "ok");
  CHECK(body["queueLag"] == 250);
  CHECK(body["dbConn"] == true);
  CHECK(body["pluginSandboxAlive"] == true);
  CHECK(body["heapUsedMB"] == 70.5);  // 4 x 10 + 30.5
  REQUIRE(body["services"].size() == 5);
  for (const char* service : {"gateway", "storage", "llm", "plugins", "tasks"}) {
    INFO(service);
    const Json& entry = body["services"][service];
    CHECK(entry["up"] == true);
    CHECK(entry["version"] == "0.1.0");
    CHECK(entry.contains("rssMB"));
    CHECK(entry.contains("heapUsedMB"));
    CHECK(entry["uptimeSeconds"] == "42");  // int64 as a string, protobuf's JSON mapping
    CHECK(entry.size() == 5);
  }
  CHECK(body["services"]["llm"]["rssMB"] == 61.0);
  CHECK(body["pluginSandbox"] == "");  // this fake plugins names no layers
  CHECK(body["unreachableModels"] == Json::object());
  CHECK(body.size() == 8);
  // Every service probed once, with the 200 ms deadline.
  for (const absl::Duration timeout : prober.Timeouts()) CHECK(timeout == absl::Milliseconds(200));
  CHECK(prober.Timeouts().size() == 5);
}

TEST_CASE("storage down: degraded, dbConn false, services.storage.up false") {
  FakeClock clock;
  FakeProber prober;
  prober.Set("storage", absl::UnavailableError("connection refused"));
  StatusAggregator aggregator(prober, clock);

  const Json body = GetNow(aggregator);
  INFO(body.dump());
  CHECK(body["status"] == "degraded");
  CHECK(body["dbConn"] == false);
  CHECK(body["services"]["storage"]["up"] == false);
  CHECK(body["services"]["storage"]["version"] == "");
  CHECK(body["services"]["gateway"]["up"] == true);
  CHECK(body["heapUsedMB"] == 40.0);  // the four that are up
  CHECK(body["pluginSandboxAlive"] == true);
}

TEST_CASE("the metrics of a refresh carry its /status verdict as spine_status_degraded") {
  FakeClock clock;
  FakeProber prober;
  StatusAggregator aggregator(prober, clock);
  auto metrics_now = [&aggregator] {
    std::optional<std::string> answer;
    aggregator.GetMetrics([&answer](std::string text) { answer = std::move(text); });
    REQUIRE(answer.has_value());
    return *answer;
  };
  const std::string healthy = metrics_now();
  INFO(healthy);
  CHECK(healthy.find("\nspine_status_degraded 0\n") != std::string::npos);

  prober.Set("storage", absl::UnavailableError("connection refused"));
  clock.Advance(absl::Seconds(2));  // past the cache
  const std::string degraded = metrics_now();
  INFO(degraded);
  CHECK(degraded.find("\nspine_status_degraded 1\n") != std::string::npos);
  CHECK(degraded.find("spine_service_up{service=\"storage\"} 0\n") != std::string::npos);
}

TEST_CASE("a probe past its deadline counts as down") {
  FakeClock clock;
  FakeProber prober;
  // What GrpcServiceProber reports for a service that does not answer within 200 ms.
  prober.Set("plugins", absl::DeadlineExceededError("Deadline Exceeded"));
  StatusAggregator aggregator(prober, clock);

  const Json body = GetNow(aggregator);
  CHECK(body["status"] == "degraded");
  CHECK(body["services"]["plugins"]["up"] == false);
  CHECK(body["pluginSandboxAlive"] == false);
  CHECK(body["dbConn"] == true);
}

TEST_CASE("signals that are false or missing make it degraded even with every service up") {
  FakeClock clock;
  FakeProber prober;
  StatusAggregator aggregator(prober, clock);

  SECTION("the plugin sandbox self-test failed; /status says why") {
    ServiceStatus plugins = Up("plugins", 10);
    plugins.set_plugin_sandbox_alive(false);
    plugins.set_plugin_sandbox("sandbox self-test: the canary ran without namespaces");
    prober.Set("plugins", plugins);
    const Json body = GetNow(aggregator);
    CHECK(body["status"] == "degraded");
    CHECK(body["pluginSandboxAlive"] == false);
    CHECK(body["pluginSandbox"] == "sandbox self-test: the canary ran without namespaces");
    CHECK(body["services"]["plugins"]["up"] == true);
  }
  SECTION("storage answers but has lost its database") {
    ServiceStatus storage = Up("storage", 10);
    storage.set_db_conn(false);
    prober.Set("storage", storage);
    CHECK(GetNow(aggregator)["status"] == "degraded");
  }
  SECTION("a service answers but says it is not up") {
    ServiceStatus llm = Up("llm", 10);
    llm.set_up(false);
    prober.Set("llm", llm);
    const Json body = GetNow(aggregator);
    CHECK(body["status"] == "degraded");
    CHECK(body["services"]["llm"]["up"] == false);
    CHECK(body["services"]["llm"]["version"] == "0.1.0");
    CHECK(body["heapUsedMB"] == 40.0);
  }
  SECTION("a model's backend cannot be reached: degraded, naming the model and why") {
    ServiceStatus llm = Up("llm", 10);
    auto* up = llm.add_model_backends();
    up->set_model("stub");
    up->set_reachable(true);
    auto* down = llm.add_model_backends();
    down->set_model("llama3");
    down->set_reachable(false);
    down->set_error("127.0.0.1:11434: Connection refused");
    prober.Set("llm", llm);
    const Json body = GetNow(aggregator);
    CHECK(body["status"] == "degraded");
    CHECK(body["unreachableModels"] == Json{{"llama3", "127.0.0.1:11434: Connection refused"}});
    CHECK(body["services"]["llm"]["up"] == true);
  }
  SECTION("tasks reports no queue lag: 0, and still ok") {
    ServiceStatus tasks = Up("tasks", 10);
    tasks.clear_queue_lag_ms();
    prober.Set("tasks", tasks);
    const Json body = GetNow(aggregator);
    CHECK(body["queueLag"] == 0);
    CHECK(body["status"] == "ok");
  }
}

TEST_CASE("the aggregate is cached for one second, then refreshed") {
  FakeClock clock;
  FakeProber prober;
  StatusAggregator aggregator(prober, clock);

  CHECK(GetNow(aggregator)["status"] == "ok");
  prober.Set("storage", absl::UnavailableError("connection refused"));
  clock.Advance(absl::Milliseconds(500));
  CHECK(GetNow(aggregator)["status"] == "ok");
  clock.Advance(absl::Milliseconds(499));
  CHECK(GetNow(aggregator)["status"] == "ok");
  CHECK(prober.Calls("storage") == 1);
  CHECK(prober.Calls("tasks") == 1);

  clock.Advance(absl::Milliseconds(1));  // one second after the probes were sent
  CHECK(GetNow(aggregator)["status"] == "degraded");
  CHECK(prober.Calls("storage") == 2);
  CHECK(prober.Calls("tasks") == 2);
}

TEST_CASE("callers arriving during a refresh share it: one probe per service") {
  FakeClock clock;
  FakeProber prober;
  prober.Hold("storage");
  StatusAggregator aggregator(prober, clock);
  Answers answers;

  aggregator.Get(answers.Catch());
  clock.Advance(absl::Milliseconds(100));
  aggregator.Get(answers.Catch());
  aggregator.Get(answers.Catch());
  CHECK(answers.Take().empty());  // nobody answered while storage is outstanding
  CHECK(prober.Calls("storage") == 1);
  CHECK(prober.Calls("gateway") == 1);

  prober.Release(absl::DeadlineExceededError("Deadline Exceeded"));
  const std::vector<std::string> got = answers.Take();
  REQUIRE(got.size() == 3);
  CHECK(got[0] == got[1]);
  CHECK(got[1] == got[2]);
  CHECK(Json::parse(got[0])["services"]["storage"]["up"] == false);
  // And the result is cached for the next caller.
  CHECK(GetNow(aggregator)["services"]["storage"]["up"] == false);
  CHECK(prober.Calls("storage") == 1);
}

TEST_CASE("a prober that never answers cannot wedge /status: a later request starts over") {
  FakeClock clock;
  FakeProber prober;
  prober.Hold("storage");  // breaks the contract: no answer, not even at the deadline
  StatusAggregator aggregator(prober, clock);
  Answers answers;

  aggregator.Get(answers.Catch());
  clock.Advance(absl::Seconds(1));
  aggregator.Get(answers.Catch());
  CHECK(prober.Calls("storage") == 1);  // within stuck_refresh_after: it waits for the refresh
  CHECK(answers.Take().empty());

  clock.Advance(absl::Seconds(1));
  prober.StopHolding();  // new calls answer; the first one stays unanswered
  aggregator.Get(answers.Catch());
  CHECK(prober.Calls("storage") == 2);
  const std::vector<std::string> got = answers.Take();
  REQUIRE(got.size() == 3);  // the two stuck callers are answered by the new refresh
  for (const std::string& json : got) CHECK(Json::parse(json)["status"] == "ok");

  // The abandoned refresh ending late changes nothing and answers nobody twice.
  prober.Release(absl::DeadlineExceededError("Deadline Exceeded"));
  CHECK(answers.Take().empty());
  CHECK(GetNow(aggregator)["status"] == "ok");
  CHECK(prober.Calls("storage") == 2);
}

TEST_CASE("an aggregator destroyed with a probe in flight is safe when the answer comes") {
  FakeClock clock;
  FakeProber prober;
  prober.Hold("tasks");
  Answers answers;
  {
    StatusAggregator aggregator(prober, clock);
    aggregator.Get(answers.Catch());
  }
  prober.Release(Up("tasks", 10));
  const std::vector<std::string> got = answers.Take();
  REQUIRE(got.size() == 1);
  CHECK(Json::parse(got[0])["status"] == "ok");
}

TEST_CASE("no services configured: degraded, since nothing vouches for the database") {
  FakeClock clock;
  FakeProber prober;
  StatusAggregator aggregator(prober, clock, {.services = {}});
  const Json body = GetNow(aggregator);
  CHECK(body["status"] == "degraded");
  CHECK(body["services"].empty());
  CHECK(body["heapUsedMB"] == 0.0);
}

// A StatusService that never answers until told to, for deadline tests of the real prober.
class HangingStatusService final : public spine::v1::StatusService::CallbackService {
 public:
  grpc::ServerUnaryReactor* GetServiceStatus(grpc::CallbackServerContext* context,
                                             const spine::v1::GetServiceStatusRequest* /*request*/,
                                             ServiceStatus* /*response*/) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    absl::MutexLock lock(&mu_);
    held_.push_back(reactor);
    return reactor;
  }
  void FinishAll() {
    absl::MutexLock lock(&mu_);
    for (grpc::ServerUnaryReactor* reactor : held_) reactor->Finish(grpc::Status::CANCELLED);
    held_.clear();
  }

 private:
  absl::Mutex mu_;
  std::vector<grpc::ServerUnaryReactor*> held_ ABSL_GUARDED_BY(mu_);
};

// An in-process gRPC server on a free loopback port.
class TestServer {
 public:
  explicit TestServer(grpc::Service& service) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service);
    server_ = builder.BuildAndStart();
    REQUIRE(server_ != nullptr);
    REQUIRE(port_ > 0);
  }
  ~TestServer() { server_->Shutdown(std::chrono::system_clock::now()); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

// A server whose StatusService hangs. Its held calls are finished before it shuts down (a
// server waits for every call to finish), so a test that fails while one is held ends instead of
// hanging.
struct HangingServer {
  ~HangingServer() { service.FinishAll(); }
  HangingStatusService service;
  TestServer server{service};
};

// Probe's answer, waiting for it with a deadline well past the probe's own.
absl::StatusOr<ServiceStatus> ProbeAndWait(ServiceProber& prober, const std::string& service,
                                           absl::Duration timeout) {
  absl::Notification done;
  absl::StatusOr<ServiceStatus> answer;
  prober.Probe(service, timeout, [&](absl::StatusOr<ServiceStatus> result) {
    answer = std::move(result);
    done.Notify();
  });
  REQUIRE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  return answer;
}

std::shared_ptr<grpc::Channel> Channel(const std::string& address) {
  return rpc::MakeChannel(address, 4 << 20);
}

TEST_CASE("GrpcServiceProber asks a service's StatusService and reports errors as statuses") {
  const Clock& clock = RealClock::Instance();
  rpc::StatusProbeService storage("storage", clock,
                                  [](ServiceStatus* status) { status->set_db_conn(true); });
  TestServer storage_server(storage);
  HangingServer hanging;
  GrpcServiceProber prober({{"storage", Channel(storage_server.address())},
                            {"plugins", Channel(hanging.server.address())},
                            {"tasks", Channel("127.0.0.1:1")}});  // nobody listens on port 1

  const absl::StatusOr<ServiceStatus> up = ProbeAndWait(prober, "storage", absl::Seconds(5));
  REQUIRE(up.ok());
  CHECK(up->service() == "storage");
  CHECK(up->up());
  CHECK(up->has_db_conn());
  CHECK(up->db_conn());

  // The hanging service never answers (until FinishAll, below): an answer at all, and a
  // DEADLINE_EXCEEDED one, shows the probe's deadline ended the call.
  const absl::StatusOr<ServiceStatus> hung =
      ProbeAndWait(prober, "plugins", absl::Milliseconds(100));
  CHECK(hung.status().code() == absl::StatusCode::kDeadlineExceeded);
  hanging.service.FinishAll();

  CHECK(ProbeAndWait(prober, "tasks", absl::Seconds(5)).status().code() ==
        absl::StatusCode::kUnavailable);
  CHECK(ProbeAndWait(prober, "llm", absl::Seconds(5)).status().code() ==
        absl::StatusCode::kNotFound);
}

TEST_CASE("with real probes a hanging service makes /status degraded within the deadline") {
  const Clock& clock = RealClock::Instance();
  rpc::StatusProbeService storage("storage", clock,
                                  [](ServiceStatus* status) { status->set_db_conn(true); });
  TestServer storage_server(storage);
  HangingServer hanging;
  GrpcServiceProber prober({{"storage", Channel(storage_server.address())},
                            {"plugins", Channel(hanging.server.address())}});
  StatusAggregator aggregator(prober, clock, {.services = {"storage", "plugins"}});

  absl::Notification done;
  std::string json;
  const absl::Time start = absl::Now();
  aggregator.Get([&](std::string body) {
    json = std::move(body);
    done.Notify();
  });
  REQUIRE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  const absl::Duration elapsed = absl::Now() - start;
  hanging.service.FinishAll();

  INFO(json);
  const Json body = Json::parse(json);
  CHECK(body["status"] == "degraded");
  CHECK(body["dbConn"] == true);
  CHECK(body["services"]["storage"]["up"] == true);
  CHECK(body["services"]["plugins"]["up"] == false);
  // It did wait for the 200 ms deadline, and not for the hanging service: that one never
  // answers before FinishAll, so the answer above could only come from the deadline.
  CHECK(elapsed >= absl::Milliseconds(150));
}

}  // namespace
}  // namespace spine::gateway
