// tasks_bench: how long a pipeline run takes end to end on this machine — API.md's example, an
// LLM step (the zero-delay stub) then a plugin step (uppercase), submitted over HTTP through the
// gateway and carried over the event bus to spine-llm and spine-plugins. The plan's gate: median
// under 5 s. Prints, for sequential runs (POST with waitMs, answered when the run ends) the
// median, p95 and max, then the throughput of 16 concurrent callers.
//
//   tasks_bench BINARY_DIR [RUNS=50]
//
// Exits non-zero when a run fails: the figures of failing runs measure nothing.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"
#include "tests/integration/constellation.h"
#include "tests/support/http_client.h"

namespace {

using Json = nlohmann::json;
using spine::testing::HttpRequestTo;
using spine::testing::HttpResult;

const char kPipeline[] = R"({"schemaVersion": 1,
  "steps": [
    {"id": "draft", "llm": {"model": "stub", "prompt": "Summarise: {{input.text}}"}},
    {"id": "shout", "plugin": {"name": "uppercase", "input": {"text": "{{steps.draft.output.text}}"}}}],
  "output": {"summary": "{{steps.shout.output}}"}})";

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[static_cast<size_t>(p * static_cast<double>(values.size() - 1))];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: tasks_bench BINARY_DIR [RUNS]\n");
    return 2;
  }
  const int runs = argc > 2 ? std::atoi(argv[2]) : 50;
  if (runs < 1) {
    std::fprintf(stderr, "usage: tasks_bench BINARY_DIR [RUNS]\n");
    return 2;
  }
  const std::vector<std::string> services = {"storage", "llm", "plugins", "tasks", "gateway"};
  spine::testing::Constellation stack(services,
                                      {{"SPINE_LOG_LEVEL", "warn"},
                                       {"SPINE_RATE_LIMIT_PER_MINUTE", "1000000"},
                                       {"SPINE_TASKS_USER_MAX_RUNS", "1000"},
                                       {"SPINE_LLM_USER_MAX_CONCURRENT", "1000"},
                                       {"SPINE_LLM_USER_REQUESTS_PER_MINUTE", "1000000"}});
  for (const std::string& service : services) {
    if (!stack.WaitHealthy(service, absl::Seconds(20))) {
      std::fprintf(stderr, "%s did not start:\n%s\n", service.c_str(), stack.Log(service).c_str());
      return 1;
    }
  }
  // The first admin's token, from a login: the gateway refuses tokens of users that do not
  // exist, and the admin is created in the background once storage answers.
  std::string token;
  for (int i = 0; i < 200 && token.empty(); ++i) {
    const HttpResult login = HttpRequestTo(
        stack.http_port(), "POST", "/api/auth/login", {{"Content-Type", "application/json"}},
        nlohmann::json{{"username", spine::testing::Constellation::kAdminUsername},
                       {"password", spine::testing::Constellation::kAdminPassword}}
            .dump());
    if (login.status == 200) {
      token = nlohmann::json::parse(login.body)["accessToken"];
    } else {
      absl::SleepFor(absl::Milliseconds(100));  // no push signal for "first admin created"
    }
  }
  if (token.empty()) {
    std::fprintf(stderr, "the first admin could not log in:\n%s\n", stack.Log("gateway").c_str());
    return 1;
  }
  const std::map<std::string, std::string> headers = {{"Authorization", "Bearer " + token},
                                                      {"Content-Type", "application/json"}};

  // The pipeline is accepted once both executors have advertised.
  std::string pipeline;
  for (int i = 0; i < 100 && pipeline.empty(); ++i) {
    const HttpResult created =
        HttpRequestTo(stack.http_port(), "POST", "/api/pipelines", headers,
                      Json{{"name", "bench"}, {"definition", Json::parse(kPipeline)}}.dump());
    if (created.status == 201) pipeline = Json::parse(created.body)["id"];
    if (pipeline.empty()) absl::SleepFor(absl::Milliseconds(200));
  }
  if (pipeline.empty()) {
    std::fprintf(stderr, "the pipeline was never accepted\n");
    return 1;
  }
  const std::string path = "/api/pipelines/" + pipeline + "/runs";
  auto run_one = [&](int i) -> double {
    const absl::Time start = absl::Now();
    const HttpResult ran = HttpRequestTo(
        stack.http_port(), "POST", path, headers,
        Json{{"input", {{"text", "story number " + std::to_string(i)}}}, {"waitMs", 60000}}.dump());
    const double ms = absl::ToDoubleMilliseconds(absl::Now() - start);
    if (ran.status != 200 || Json::parse(ran.body)["state"] != "SUCCEEDED") {
      std::fprintf(stderr, "run %d: %d %s\n", i, ran.status, ran.body.c_str());
      return -1;
    }
    return ms;
  };

  if (run_one(-1) < 0) return 1;  // warm: the plugin's first worker starts cold
  std::vector<double> latencies;
  int failed = 0;
  for (int i = 0; i < runs; ++i) {
    const double ms = run_one(i);
    if (ms < 0) {
      ++failed;
    } else {
      latencies.push_back(ms);
    }
  }
  std::printf(
      "LLM -> plugin run (stub, uppercase), sequential, %d runs: median %.1f ms  p95 %.1f ms  "
      "max %.1f ms  failed %d   (plan's gate: median < 5000 ms)\n",
      runs, Percentile(latencies, 0.5), Percentile(latencies, 0.95), Percentile(latencies, 1.0),
      failed);

  const int callers = 16;
  const int per_caller = std::max(1, runs / 4);
  absl::Mutex mu;
  std::vector<double> concurrent;
  int concurrent_failed = 0;
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  threads.reserve(callers);
  for (int c = 0; c < callers; ++c) {
    threads.emplace_back([&, c] {
      for (int i = 0; i < per_caller; ++i) {
        const double ms = run_one(c * 1000 + i);
        absl::MutexLock lock(&mu);
        if (ms < 0) {
          ++concurrent_failed;
        } else {
          concurrent.push_back(ms);
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  std::printf(
      "%d concurrent callers, %d runs: %.1f runs/s  median %.1f ms  p95 %.1f ms  failed %d\n",
      callers, callers * per_caller, static_cast<double>(concurrent.size()) / seconds,
      Percentile(concurrent, 0.5), Percentile(concurrent, 0.95), concurrent_failed);
  return failed == 0 && concurrent_failed == 0 ? 0 : 1;
}
