#include "services/gateway/gateway_http_handler.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "libs/core/clock.h"
#include "libs/rpc/channel.h"
#include "libs/rpc/health_client.h"
#include "nlohmann/json.hpp"
#include "services/gateway/rate_limit/rate_limiter.h"
#include "services/gateway/readiness.h"

namespace spine::gateway {
namespace {

using Json = nlohmann::json;

constexpr absl::Duration kReplyWait = absl::Seconds(5);

// Collects the one reply a handler sends, from whichever thread sends it.
class ReplyCatcher {
 public:
  HttpReply Reply() {
    return [this](HttpResponse response) {
      absl::MutexLock lock(&mu_);
      ++calls_;
      response_ = std::move(response);
      if (!done_.HasBeenNotified()) done_.Notify();
    };
  }

  // The reply, waiting up to kReplyWait for it.
  HttpResponse Wait() {
    REQUIRE(done_.WaitForNotificationWithTimeout(kReplyWait));
    absl::MutexLock lock(&mu_);
    REQUIRE(calls_ == 1);
    return *response_;
  }

 private:
  absl::Mutex mu_;
  int calls_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<HttpResponse> response_ ABSL_GUARDED_BY(mu_);
  absl::Notification done_;
};

HttpRequest Request(std::string method, std::string path) {
  HttpRequest request;
  request.method = std::move(method);
  request.path = std::move(path);
  request.request_id = "test-request";
  return request;
}

std::optional<std::string> Header(const HttpResponse& response, absl::string_view name) {
  for (const auto& [key, value] : response.headers) {
    if (absl::EqualsIgnoreCase(key, name)) return value;
  }
  return std::nullopt;
}

Json Body(const HttpResponse& response) {
  INFO(response.body);
  REQUIRE(Json::accept(response.body));
  return Json::parse(response.body);
}

HttpResponse Send(GatewayHttpHandler& handler, std::string method, std::string path,
                  HttpHeaders headers = {}) {
  ReplyCatcher catcher;
  HttpRequest request = Request(std::move(method), std::move(path));
  request.headers = std::move(headers);
  handler.Handle(std::move(request), catcher.Reply());
  return catcher.Wait();
}

std::vector<std::string> HeaderValues(const HttpResponse& response, absl::string_view name) {
  std::vector<std::string> values;
  for (const auto& [key, value] : response.headers) {
    if (absl::EqualsIgnoreCase(key, name)) values.push_back(value);
  }
  return values;
}

// A health client whose server is not there: loopback port 1 refuses connections. All share
// one channel that lives as long as the process: gRPC 1.51 aborts when the last channel that
// used its callback queue is destroyed just after a callback returned.
rpc::HealthClient UnreachableHealthClient() {
  static const rpc::HealthClient* const client =
      new rpc::HealthClient(rpc::MakeChannel("127.0.0.1:1", 4 << 20));
  return *client;
}

TEST_CASE("GET /healthz answers 200 with a JSON body") {
  const ReadinessChecker readiness({});
  GatewayHttpHandler handler(readiness, absl::Milliseconds(200));
  const std::string method = GENERATE("GET", "HEAD");
  const HttpResponse response = Send(handler, method, "/healthz");
  CHECK(response.status == 200);
  CHECK(Header(response, "Content-Type") == std::optional<std::string>("application/json"));
  CHECK(Body(response) == Json{{"status", "ok"}});
}

TEST_CASE("other methods on /healthz and /readyz answer 405 with an Allow header") {
  const ReadinessChecker readiness({});
  GatewayHttpHandler handler(readiness, absl::Milliseconds(200));
  const std::string path = GENERATE("/healthz", "/readyz");
  const std::string method = GENERATE("POST", "PUT", "DELETE", "PATCH");
  INFO(method << " " << path);
  const HttpResponse response = Send(handler, method, path);
  CHECK(response.status == 405);
  const std::optional<std::string> allow = Header(response, "Allow");
  REQUIRE(allow.has_value());
  CHECK_THAT(*allow, Catch::Contains("GET"));
  CHECK_THAT(*allow, !Catch::Contains(method));
  const Json body = Body(response);
  CHECK(body["error"]["code"] == 405);
  CHECK(body["error"]["details"][0]["reason"] == "METHOD_NOT_ALLOWED");
  CHECK(Header(response, "Content-Type") == std::optional<std::string>("application/json"));
}

TEST_CASE("GET /readyz answers 200 at once when there is nothing to wait for") {
  const ReadinessChecker readiness({});
  GatewayHttpHandler handler(readiness, absl::Milliseconds(200));
  const HttpResponse response = Send(handler, "GET", "/readyz");
  CHECK(response.status == 200);
  CHECK(Header(response, "Content-Type") == std::optional<std::string>("application/json"));
  CHECK(Body(response) == Json{{"status", "ready"}});
  CHECK_FALSE(Header(response, "Retry-After").has_value());
}

TEST_CASE("an unknown path answers 404 in the error shape with reason ROUTE_NOT_FOUND") {
  const ReadinessChecker readiness({});
  GatewayHttpHandler handler(readiness, absl::Milliseconds(200));
  const std::string method = GENERATE("GET", "POST");
  const std::string path = GENERATE("/nope", "/", "/healthz/", "/HEALTHZ", "/readyz/extra");
  INFO(method << " " << path);
  const HttpResponse response = Send(handler, method, path);
  CHECK(response.status == 404);
  CHECK(Header(response, "Content-Type") == std::optional<std::string>("application/json"));
  const Json body = Body(response);
  CHECK(body["error"]["code"] == 404);
  CHECK(body["error"]["status"] == "NOT_FOUND");
  CHECK_THAT(body["error"]["message"].get<std::string>(), Catch::Contains(path));
  CHECK(body["error"]["details"][0]["reason"] == "ROUTE_NOT_FOUND");
  CHECK(body["error"]["details"][0]["domain"] == "spine");
}

TEST_CASE("GET /readyz answers 503 naming a service that does not answer its health check") {
  std::map<std::string, rpc::HealthClient> targets;
  targets.emplace("storage", UnreachableHealthClient());
  const ReadinessChecker readiness(std::move(targets));
  GatewayHttpHandler handler(readiness, absl::Milliseconds(200));

  const HttpResponse response = Send(handler, "GET", "/readyz");
  CHECK(response.status == 503);
  CHECK(Header(response, "Retry-After").has_value());
  CHECK(Header(response, "Content-Type") == std::optional<std::string>("application/json"));
  const Json body = Body(response);
  CHECK(body["error"]["code"] == 503);
  CHECK(body["error"]["status"] == "UNAVAILABLE");
  CHECK_THAT(body["error"]["message"].get<std::string>(), Catch::Contains("storage"));
  CHECK(body["error"]["details"][0]["reason"] == "SERVICES_NOT_READY");
  CHECK(body["notReady"] == Json::array({"storage"}));
}

TEST_CASE("GET /readyz lists every service that is not ready, sorted") {
  std::map<std::string, rpc::HealthClient> targets;
  targets.emplace("tasks", UnreachableHealthClient());
  targets.emplace("llm", UnreachableHealthClient());
  const ReadinessChecker readiness(std::move(targets));
  GatewayHttpHandler handler(readiness, absl::Milliseconds(200));

  const HttpResponse response = Send(handler, "GET", "/readyz");
  CHECK(response.status == 503);
  const Json body = Body(response);
  CHECK(body["notReady"] == Json::array({"llm", "tasks"}));
  CHECK_THAT(body["error"]["message"].get<std::string>(),
             Catch::Contains("llm") && Catch::Contains("tasks"));
}

// Answers "tasks" with a fixed ServiceStatus (or error), as spine-tasks' StatusService would.
class TasksStatusProber final : public ServiceProber {
 public:
  void Set(absl::StatusOr<spine::v1::ServiceStatus> answer) {
    absl::MutexLock lock(&mu_);
    answer_ = std::move(answer);
  }
  void Probe(const std::string& service, absl::Duration /*timeout*/, Callback done) override {
    if (service != "tasks") return done(absl::NotFoundError(service));
    absl::StatusOr<spine::v1::ServiceStatus> answer;
    {
      absl::MutexLock lock(&mu_);
      answer = answer_;
    }
    done(std::move(answer));
  }

 private:
  absl::Mutex mu_;
  absl::StatusOr<spine::v1::ServiceStatus> answer_ ABSL_GUARDED_BY(mu_) =
      absl::UnavailableError("not set");
};

spine::v1::ServiceStatus TasksHeard(int llm, int plugin) {
  spine::v1::ServiceStatus status;
  auto* kind = status.add_executor_kinds();
  kind->set_kind("llm");
  kind->set_live_executors(llm);
  kind = status.add_executor_kinds();
  kind->set_kind("plugin");
  kind->set_live_executors(plugin);
  return status;
}

Json NotReady(const HttpResponse& response) {
  return response.status == 200 ? Json::array() : Body(response)["notReady"];
}

TEST_CASE("GET /readyz is 503 naming first-admin until the first admin exists") {
  std::atomic<bool> admin{false};
  const ReadinessChecker readiness({}, {.first_admin_ready = [&admin] { return admin.load(); }});
  GatewayHttpHandler handler(readiness, absl::Milliseconds(200));

  const HttpResponse before = Send(handler, "GET", "/readyz");
  CHECK(before.status == 503);
  CHECK(NotReady(before) == Json::array({"first-admin"}));
  CHECK(Body(before)["error"]["details"][0]["reason"] == "SERVICES_NOT_READY");
  admin = true;
  CHECK(Send(handler, "GET", "/readyz").status == 200);
}

TEST_CASE("GET /readyz is 503 naming each executor kind spine-tasks has not heard from") {
  TasksStatusProber tasks;
  const ReadinessChecker readiness({}, {.tasks_prober = &tasks});
  GatewayHttpHandler handler(readiness, absl::Milliseconds(200));

  tasks.Set(TasksHeard(0, 0));
  CHECK(NotReady(Send(handler, "GET", "/readyz")) ==
        Json::array({"executor:llm", "executor:plugin"}));
  tasks.Set(TasksHeard(2, 0));
  const HttpResponse plugin_missing = Send(handler, "GET", "/readyz");
  CHECK(plugin_missing.status == 503);
  CHECK(NotReady(plugin_missing) == Json::array({"executor:plugin"}));
  CHECK_THAT(Body(plugin_missing)["error"]["message"].get<std::string>(),
             Catch::Contains("executor:plugin"));
  tasks.Set(TasksHeard(1, 1));
  CHECK(Send(handler, "GET", "/readyz").status == 200);
}

// Answers "llm" with a status whose model `down` cannot reach its backend.
class LlmStatusProber final : public ServiceProber {
 public:
  void Probe(const std::string& service, absl::Duration /*timeout*/, Callback done) override {
    if (service != "llm") return done(absl::NotFoundError(service));
    spine::v1::ServiceStatus status;
    auto* up = status.add_model_backends();
    up->set_model("stub");
    up->set_reachable(true);
    auto* down = status.add_model_backends();
    down->set_model("down");
    down->set_reachable(false);
    down->set_error("127.0.0.1:9: Connection refused");
    done(status);
  }
};

TEST_CASE("GET /readyz is 200 degraded naming a model whose backend cannot be reached") {
  LlmStatusProber llm;
  const ReadinessChecker readiness({}, {.llm_prober = &llm});
  GatewayHttpHandler handler(readiness, absl::Milliseconds(200));
  const HttpResponse answer = Send(handler, "GET", "/readyz");
  CHECK(answer.status == 200);
  CHECK(Body(answer)["status"] == "degraded");
  CHECK(Body(answer)["degraded"] == Json::array({"model:down"}));
  CHECK(ModelsDegraded(absl::UnavailableError("llm is down")).empty());
}

TEST_CASE("CORS: a listed origin's preflight is answered with its headers, others get none") {
  const ReadinessChecker readiness({});
  absl::StatusOr<CorsPolicy> cors = CorsPolicy::Parse(" https://app.example , http://[::1]:8000");
  REQUIRE(cors.ok());
  GatewayHttpHandler handler(readiness, absl::Milliseconds(200), {.cors = &*cors});
  const HttpResponse preflight =
      Send(handler, "OPTIONS", "/api/thoughts",
           {{"Origin", "https://app.example"}, {"Access-Control-Request-Method", "PATCH"}});
  CHECK(preflight.status == 204);
  CHECK(HeaderValues(preflight, "Access-Control-Allow-Origin") ==
        std::vector<std::string>{"https://app.example"});
  CHECK(HeaderValues(preflight, "Vary") == std::vector<std::string>{"Origin"});
  const HttpResponse healthz = Send(handler, "GET", "/healthz", {{"Origin", "http://[::1]:8000"}});
  CHECK(HeaderValues(healthz, "Access-Control-Allow-Origin") ==
        std::vector<std::string>{"http://[::1]:8000"});
  const HttpResponse other = Send(handler, "GET", "/healthz", {{"Origin", "https://x.example"}});
  CHECK(HeaderValues(other, "Access-Control-Allow-Origin").empty());
  CHECK(Send(handler, "OPTIONS", "/api/thoughts",
             {{"Origin", "https://x.example"}, {"Access-Control-Request-Method", "GET"}})
            .status == 403);

  for (const char* bad : {"*", "app.example", "https://app.example/path", "ftp://app.example"}) {
    INFO(bad);
    CHECK_FALSE(CorsPolicy::Parse(bad).ok());
  }
  CHECK(CorsPolicy::Parse("").ok());
  CHECK(CorsPolicy::Parse("")->empty());
}

TEST_CASE("GET /readyz names tasks once when it neither answers its health check nor its status") {
  TasksStatusProber tasks;
  tasks.Set(absl::UnavailableError("connection refused"));
  std::map<std::string, rpc::HealthClient> targets;
  targets.emplace("tasks", UnreachableHealthClient());
  const ReadinessChecker readiness(
      std::move(targets), {.tasks_prober = &tasks, .first_admin_ready = [] { return false; }});
  GatewayHttpHandler handler(readiness, absl::Milliseconds(200));

  CHECK(NotReady(Send(handler, "GET", "/readyz")) == Json::array({"first-admin", "tasks"}));
}

TEST_CASE("executors not ready: tasks when its status fails, else each kind with none live") {
  CHECK(ExecutorsNotReady(absl::DeadlineExceededError("slow")) ==
        std::vector<std::string>{"tasks"});
  CHECK(ExecutorsNotReady(TasksHeard(1, 3)).empty());
  CHECK(ExecutorsNotReady(TasksHeard(0, 1)) == std::vector<std::string>{"executor:llm"});
  // A spine-tasks that lists no kinds expects no executors.
  CHECK(ExecutorsNotReady(spine::v1::ServiceStatus()).empty());
}

}  // namespace

TEST_CASE("/openapi.json is rate limited; /healthz is not") {
  FakeClock clock;
  auto limiter = RateLimiter::Create({.requests_per_minute = 2, .max_clients = 1024}, clock);
  REQUIRE(limiter.ok());
  const std::string openapi = R"({"openapi":"3.1.0"})";
  ReadinessChecker readiness({});
  GatewayHttpHandler handler(readiness, absl::Seconds(1),
                             {.limiter = limiter->get(), .openapi_json = &openapi});
  auto from_client = [&](const std::string& path) {
    HttpRequest request = Request("GET", path);
    request.peer_ip = "192.0.2.7";
    ReplyCatcher catcher;
    handler.Handle(std::move(request), catcher.Reply());
    return catcher.Wait();
  };
  CHECK(from_client("/openapi.json").status == 200);
  CHECK(from_client("/openapi.json").status == 200);
  const HttpResponse limited = from_client("/openapi.json");
  CHECK(limited.status == 429);
  CHECK(Header(limited, "Retry-After").has_value());
  for (int i = 0; i < 5; ++i) CHECK(from_client("/healthz").status == 200);
}

}  // namespace spine::gateway
