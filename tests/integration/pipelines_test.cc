// Pipelines and runs through the real gateway, storage, llm, plugins and tasks binaries: the
// routes of API.md's "Pipelines and runs", with steps carried over the event bus to spine-llm and
// their results back, a cancel that reaches the running step's executor, and a run that survives
// spine-tasks being SIGKILLed.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cctype>
#include <csignal>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/auth/jwt.h"
#include "libs/core/clock.h"
#include "libs/rpc/channel.h"
#include "nlohmann/json.hpp"
#include "spine/v1/storage.grpc.pb.h"
#include "tests/integration/constellation.h"
#include "tests/integration/storage_client.h"
#include "tests/support/http_client.h"
#include "tests/support/poll.h"

namespace spine::testing {
namespace {

using Json = nlohmann::json;

std::string Bearer(const Constellation& stack, const std::string& user) {
  EnsureUserIds(stack, user);  // the gateway refuses tokens of users that do not exist
  JwtSigner signer(*Ed25519PrivateKey::FromPem(stack.private_key_pem()), RealClock::Instance());
  return "Bearer " + *signer.Sign(user, "user" + user, "user");
}

HttpResult Call(const Constellation& stack, const std::string& method, const std::string& path,
                const std::string& user, const Json& body = nullptr) {
  std::map<std::string, std::string> headers = {{"Authorization", Bearer(stack, user)}};
  if (!body.is_null()) headers.emplace("Content-Type", "application/json");
  return HttpRequestTo(stack.http_port(), method, path, headers, body.is_null() ? "" : body.dump());
}

const Json kSummarise = Json::parse(R"({"schemaVersion": 1, "steps": [
  {"id": "draft", "llm": {"model": "stub", "prompt": "Summarise: {{input.text}}"}}],
  "output": {"summary": "{{steps.draft.output.text}}", "tokens": "{{steps.draft.output.completionTokens}}"}})");

// Creates a pipeline once spine-tasks has heard spine-llm advertise its models.
std::string CreatePipeline(const Constellation& stack, const Json& definition) {
  const HttpResult created = PollFor(
      [&] {
        return Call(stack, "POST", "/api/pipelines", "7",
                    {{"name", "summarise"}, {"definition", definition}});
      },
      [](const HttpResult& seen) { return seen.status == 201; }, absl::Seconds(20),
      absl::Milliseconds(200));
  INFO("pipeline not created: " << created.status << " " << created.body);
  REQUIRE(created.status == 201);
  return Json::parse(created.body)["id"];
}

Json WaitForRun(const Constellation& stack, const std::string& id, const std::string& user = "7",
                absl::Duration timeout = absl::Seconds(30)) {
  return PollFor(
      [&] {
        const HttpResult got = Call(stack, "GET", "/api/runs/" + id, user);
        REQUIRE(got.status == 200);
        return Json::parse(got.body);
      },
      [](const Json& run) {
        const std::string state = run["state"];
        return state == "SUCCEEDED" || state == "FAILED" || state == "CANCELLED";
      },
      timeout, absl::Milliseconds(50));
}

// Polls GET /api/llm/models until `model` has `count` generations running (up to 10 s).
bool WaitForRunning(const Constellation& stack, const std::string& model, int count) {
  return PollUntil(
      [&] {
        const Json models = Json::parse(Call(stack, "GET", "/api/llm/models", "7").body)["models"];
        for (const Json& entry : models) {
          if (entry["name"] == model && entry["running"] == count) return true;
        }
        return false;
      },
      kPollTimeout, kGatewayPollInterval);
}

// A models file (SPINE_LLM_MODELS_FILE) in `dir` with one stub model: `runners` at once, the first
// token `first_token_ms` after the start and each next one `token_ms` later.
std::string StubModelFile(const TempDir& dir, const std::string& name, int runners,
                          int first_token_ms, int token_ms) {
  const Json model = {{"name", name},
                      {"backend", "stub"},
                      {"maxConcurrency", runners},
                      {"queueLimit", 1000},
                      {"timeoutMs", 600000},
                      {"contextChars", 1000},
                      {"stub", {{"firstTokenMs", first_token_ms}, {"tokenMs", token_ms}}}};
  return dir.WriteFile("models.json", Json{{"models", {model}}}.dump(), 0644);
}

std::vector<std::string> kServices = {"storage", "llm", "tasks", "gateway"};

void StartStack(Constellation& stack) {
  for (const std::string& service : kServices) {
    INFO(service << ": " << stack.Log(service));
    REQUIRE(stack.WaitHealthy(service, absl::Seconds(15)));
  }
}

}  // namespace

TEST_CASE("a pipeline of an LLM step runs over the bus through HTTP as API.md says") {
  Constellation stack(kServices, {{"SPINE_RATE_LIMIT_PER_MINUTE", "100000"}});
  StartStack(stack);
  const std::string pipeline = CreatePipeline(stack, kSummarise);

  // waitMs: the run ends within it, so the answer is 200 with the finished run.
  const HttpResult waited =
      Call(stack, "POST", "/api/pipelines/" + pipeline + "/runs", "7",
           {{"input", {{"text", "a long story about a cat"}}}, {"waitMs", 20000}});
  INFO(waited.body);
  REQUIRE(waited.status == 200);
  const Json run = Json::parse(waited.body);
  CHECK(run["state"] == "SUCCEEDED");
  CHECK(run["pipelineId"] == pipeline);
  CHECK_FALSE(run["output"]["summary"].get<std::string>().empty());
  CHECK(run["output"]["tokens"].is_number());  // a whole-value template keeps its type
  REQUIRE(run["steps"].size() == 1);
  CHECK(run["steps"][0]["state"] == "SUCCEEDED");
  CHECK(run["steps"][0]["attempts"] == 1);
  CHECK(run["steps"][0]["output"]["model"] == "stub");

  // Without waitMs: 202 at once, and the run finishes on its own.
  const HttpResult accepted = Call(stack, "POST", "/api/runs", "7",
                                   {{"definition", kSummarise}, {"input", {{"text", "hi"}}}});
  REQUIRE(accepted.status == 202);
  const std::string one_off = Json::parse(accepted.body)["id"];
  CHECK(WaitForRun(stack, one_off)["state"] == "SUCCEEDED");

  // Idempotency keys: the same key from the same user is the same run.
  const Json keyed = {{"input", {{"text", "x"}}}, {"idempotencyKey", "k-1"}};
  const std::string first = Json::parse(
      Call(stack, "POST", "/api/pipelines/" + pipeline + "/runs", "7", keyed).body)["id"];
  const std::string again = Json::parse(
      Call(stack, "POST", "/api/pipelines/" + pipeline + "/runs", "7", keyed).body)["id"];
  CHECK(first == again);

  // Lists, ownership, validation.
  const HttpResult listed = Call(stack, "GET", "/api/runs?pipelineId=" + pipeline, "7");
  REQUIRE(listed.status == 200);
  CHECK(Json::parse(listed.body)["runs"].size() == 2);
  CHECK(Call(stack, "GET", "/api/runs/" + one_off, "8").status == 404);
  CHECK(Call(stack, "GET", "/api/pipelines/" + pipeline, "8").status == 404);
  const HttpResult future =
      Call(stack, "POST", "/api/runs", "7",
           {{"definition", {{"schemaVersion", 2}, {"steps", Json::array()}}}, {"input", nullptr}});
  CHECK(future.status == 400);
  CHECK(Json::parse(future.body)["error"]["details"][0]["reason"] == "UNSUPPORTED_SCHEMA_VERSION");
  Json unknown = kSummarise;
  unknown["steps"][0]["llm"]["model"] = "gpt-9";
  const HttpResult no_model =
      Call(stack, "POST", "/api/runs", "7", {{"definition", unknown}, {"input", nullptr}});
  CHECK(no_model.status == 400);
  CHECK(Json::parse(no_model.body)["error"]["details"][0]["reason"] == "UNKNOWN_MODEL");
  CHECK(Call(stack, "DELETE", "/api/pipelines/" + pipeline, "7").status == 204);
}

// Submits a one-off run of `definition` once spine-tasks has heard its executor advertise.
std::string StartRun(const Constellation& stack, const Json& definition, const Json& input) {
  const HttpResult accepted = PollFor(
      [&] {
        return Call(stack, "POST", "/api/runs", "7",
                    {{"definition", definition}, {"input", input}});
      },
      [](const HttpResult& seen) { return seen.status == 202; }, absl::Seconds(20),
      absl::Milliseconds(200));
  INFO("run not started: " << accepted.status << " " << accepted.body);
  REQUIRE(accepted.status == 202);
  return Json::parse(accepted.body)["id"];
}

// Cancels run `id` and checks the answer: 200, the run and its step CANCELLED.
void CancelRun(const Constellation& stack, const std::string& id) {
  const HttpResult cancelled = Call(stack, "POST", "/api/runs/" + id + "/cancel", "7");
  REQUIRE(cancelled.status == 200);
  const Json run = Json::parse(cancelled.body);
  CHECK(run["state"] == "CANCELLED");
  CHECK(run["steps"][0]["state"] == "CANCELLED");
}

TEST_CASE("a cancelled run frees its step's runner at once, for an LLM and a plugin step") {
  TempDir dir;
  // glacial: one runner; a step's reply (8 tokens or more, a minute each) would hold it for
  // minutes, while a one-token generate is answered at once once the runner is free.
  const std::string models = StubModelFile(dir, "glacial", 1, 0, 60000);
  // sleeper: one worker, sleeping input.ms before it answers. The sandbox's uid reads it.
  REQUIRE(chmod(dir.path().c_str(), 0755) == 0);
  const std::string plugins = dir.path() + "/plugins";
  REQUIRE(mkdir(plugins.c_str(), 0755) == 0);
  REQUIRE(mkdir((plugins + "/sleeper").c_str(), 0755) == 0);
  dir.WriteFile("plugins/sleeper/plugin.json",
                R"({"name": "sleeper", "version": "1.0.0", "runtime": "node", "entry": "index.js",
                    "permissions": {"limits": {"timeoutMs": 60000, "concurrency": 1}}})",
                0644);
  dir.WriteFile(
      "plugins/sleeper/index.js",
      "'use strict';\n"
      "module.exports = (input) =>\n"
      "  new Promise((resolve) => setTimeout(() => resolve({slept: input.ms}), input.ms));\n",
      0644);
  const std::vector<std::string> services = {"storage", "llm", "plugins", "tasks", "gateway"};
  Constellation stack(services, {{"SPINE_RATE_LIMIT_PER_MINUTE", "100000"},
                                 {"SPINE_LLM_MODELS_FILE", models},
                                 {"SPINE_PLUGINS_DIR", plugins}});
  for (const std::string& service : services) {
    INFO(service << ": " << stack.Log(service));
    REQUIRE(stack.WaitHealthy(service, absl::Seconds(15)));
  }
  // The sandbox's uid must be able to walk to its data dir, as with a real SPINE_DATA_DIR.
  REQUIRE(chmod((stack.data_dir() + "/..").c_str(), 0755) == 0);
  REQUIRE(chmod(stack.data_dir().c_str(), 0755) == 0);

  SECTION("an LLM step") {
    const std::string id = StartRun(stack, Json::parse(R"({"schemaVersion": 1, "steps": [
        {"id": "draft", "llm": {"model": "glacial", "prompt": "take a minute a word"}}]})"),
                                    {});
    REQUIRE(WaitForRunning(stack, "glacial", 1));  // the step holds the only runner
    const absl::Time cancelled_at = absl::Now();
    CancelRun(stack, id);
    const HttpResult next =
        Call(stack, "POST", "/api/llm/generate", "7",
             {{"model", "glacial"}, {"prompt", "one word"}, {"maxTokens", 1}, {"timeoutMs", 5000}});
    const absl::Duration served_after = absl::Now() - cancelled_at;
    INFO(next.status << " " << next.body << " after " << served_after);
    REQUIRE(next.status == 200);
    CHECK(served_after < absl::Seconds(1));
    CHECK(WaitForRun(stack, id)["state"] == "CANCELLED");
  }

  SECTION("a plugin step") {
    auto invoke = [&](int sleep_ms, int timeout_ms) {
      return Call(stack, "POST", "/api/plugins/sleeper/invoke", "7",
                  {{"input", {{"ms", sleep_ms}}}, {"timeoutMs", timeout_ms}});
    };
    // Warm: the worker is up, so what follows measures the queue, not a start.
    REQUIRE(invoke(0, 10000).status == 200);
    const std::string id = StartRun(stack, Json::parse(R"({"schemaVersion": 1, "steps": [
        {"id": "nap", "plugin": {"name": "sleeper", "input": {"ms": 60000}}, "timeoutMs": 60000}]})"),
                                    {});
    // The step holds the only worker: an invocation waits in the queue until its timeout.
    const HttpResult probe = PollFor([&] { return invoke(0, 300); },
                                     [](const HttpResult& seen) { return seen.status != 200; },
                                     kPollTimeout, kGatewayPollInterval);
    REQUIRE(probe.status == 504);
    const absl::Time cancelled_at = absl::Now();
    CancelRun(stack, id);
    const HttpResult next = invoke(0, 5000);
    const absl::Duration served_after = absl::Now() - cancelled_at;
    INFO(next.status << " " << next.body << " after " << served_after);
    REQUIRE(next.status == 200);
    CHECK(served_after < absl::Seconds(1));
    CHECK(WaitForRun(stack, id)["state"] == "CANCELLED");
  }
}

}  // namespace spine::testing

namespace spine::testing {

TEST_CASE(
    "200 runs in flight survive spine-tasks being SIGKILLed; no step that succeeded runs again") {
  TempDir dir;
  const std::string models = dir.WriteFile("models.json", R"({"models": [
      {"name": "steady", "backend": "stub", "maxConcurrency": 32, "queueLimit": 1000,
       "timeoutMs": 60000, "contextChars": 1000, "stub": {"firstTokenMs": 300, "tokenMs": 0}}]})",
                                           0644);
  Constellation stack(kServices, {{"SPINE_RATE_LIMIT_PER_MINUTE", "100000"},
                                  {"SPINE_LLM_MODELS_FILE", models},
                                  {"SPINE_LLM_USER_MAX_CONCURRENT", "1000"},
                                  {"SPINE_LLM_USER_REQUESTS_PER_MINUTE", "100000"},
                                  {"SPINE_LLM_STEP_CONCURRENCY", "64"},
                                  {"SPINE_TASKS_USER_MAX_RUNS", "1000"}});
  StartStack(stack);
  const Json two_steps = Json::parse(R"({"schemaVersion": 1, "steps": [
    {"id": "first", "llm": {"model": "steady", "prompt": "one {{input.n}}"}},
    {"id": "second", "llm": {"model": "steady", "prompt": "two {{steps.first.output.text}}"}}]})");
  const std::string pipeline = CreatePipeline(stack, two_steps);

  std::vector<std::string> ids;
  for (int i = 0; i < 200; ++i) {
    const HttpResult accepted =
        Call(stack, "POST", "/api/pipelines/" + pipeline + "/runs", "7", {{"input", {{"n", i}}}});
    REQUIRE(accepted.status == 202);
    ids.push_back(Json::parse(accepted.body)["id"]);
  }
  // Some runs are done, some between steps, most queued at spine-llm: kill spine-tasks now.
  const HttpResult last = Call(stack, "GET", "/api/runs/" + ids.back(), "7");
  REQUIRE(last.status == 200);
  REQUIRE(Json::parse(last.body)["state"] == "RUNNING");
  stack.process("tasks").Signal(SIGKILL);
  REQUIRE(stack.process("tasks").WaitExit(absl::Seconds(10)));
  stack.Restart("tasks");
  REQUIRE(stack.WaitHealthy("tasks", absl::Seconds(15)));

  // Every accepted run ends, and ends well.
  std::map<std::string, int> states;
  for (const std::string& id : ids) {
    const Json run = WaitForRun(stack, id, "7", absl::Seconds(60));
    ++states[run["state"].get<std::string>()];
  }
  INFO("states: " << Json(states).dump());
  CHECK(states["SUCCEEDED"] == 200);

  // spine-llm audited every step it ran, under the job's id (run:step:attempt): each step of
  // each run ran exactly once, crash or not.
  auto storage =
      spine::v1::StorageService::NewStub(rpc::MakeChannel(stack.GrpcAddress("storage"), 4 << 20));
  JwtSigner signer(*Ed25519PrivateKey::FromPem(stack.private_key_pem()), RealClock::Instance());
  const std::string admin = "Bearer " + *signer.Sign("1", "admin", "admin");
  std::map<std::string, int> runs_of_step;
  spine::v1::ListAuditEventsRequest request;
  request.set_actor("7");
  request.set_page_size(500);
  // The audit writer may still be flushing; wait until every step is there.
  PollUntil(
      [&] {
        runs_of_step.clear();
        request.clear_page_token();
        do {
          grpc::ClientContext context;
          context.AddMetadata("authorization", admin);
          context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
          spine::v1::ListAuditEventsResponse page;
          REQUIRE(storage->ListAuditEvents(&context, request, &page).ok());
          for (const auto& event : page.events()) {
            if (event.action() != "llm.pipeline_step" || event.outcome() != "ok") continue;
            const std::string& job = event.request_id();  // "<run>:<step>:<attempt>"
            ++runs_of_step[job.substr(0, job.rfind(':'))];
          }
          request.set_page_token(page.next_page_token());
        } while (!request.page_token().empty());
        return runs_of_step.size() >= 400;
      },
      absl::Seconds(20), absl::Milliseconds(200));
  CHECK(runs_of_step.size() == 400);
  int ran_twice = 0;
  for (const auto& [step, count] : runs_of_step) ran_twice += count > 1 ? 1 : 0;
  CHECK(ran_twice == 0);
}

}  // namespace spine::testing

namespace spine::testing {

TEST_CASE("a step whose spine-llm is killed mid-generation is delivered to the restarted one") {
  TempDir dir;
  const std::string models = StubModelFile(dir, "slowish", 4, 1500, 0);
  Constellation stack(
      kServices, {{"SPINE_RATE_LIMIT_PER_MINUTE", "100000"}, {"SPINE_LLM_MODELS_FILE", models}});
  StartStack(stack);
  const Json one_step = Json::parse(R"({"schemaVersion": 1, "steps": [
    {"id": "only", "llm": {"model": "slowish", "prompt": "hello"}}]})");
  CreatePipeline(stack, one_step);
  const HttpResult accepted =
      Call(stack, "POST", "/api/runs", "7", {{"definition", one_step}, {"input", nullptr}});
  REQUIRE(accepted.status == 202);
  const std::string id = Json::parse(accepted.body)["id"];
  REQUIRE(WaitForRunning(stack, "slowish", 1));
  stack.process("llm").Signal(SIGKILL);
  REQUIRE(stack.process("llm").WaitExit(absl::Seconds(10)));
  stack.Restart("llm");
  REQUIRE(stack.WaitHealthy("llm", absl::Seconds(15)));

  const Json run = WaitForRun(stack, id, "7", absl::Seconds(30));
  CHECK(run["state"] == "SUCCEEDED");
  // The same attempt, delivered again by the bus: not a retry of the engine's.
  CHECK(run["steps"][0]["attempts"] == 1);
}

}  // namespace spine::testing

namespace spine::testing {

TEST_CASE("an LLM step then a plugin step: API.md's example pipeline runs over the bus") {
  const std::vector<std::string> all = {"storage", "llm", "plugins", "tasks", "gateway"};
  Constellation stack(all, {{"SPINE_RATE_LIMIT_PER_MINUTE", "100000"}});
  for (const std::string& service : all) {
    INFO(service << ": " << stack.Log(service));
    REQUIRE(stack.WaitHealthy(service, absl::Seconds(15)));
  }
  const Json definition = Json::parse(R"({"schemaVersion": 1,
   "steps": [
     {"id": "draft", "llm": {"model": "stub", "prompt": "Summarise: {{input.text}}"},
      "timeoutMs": 30000,
      "retry": {"maxAttempts": 3, "initialBackoffMs": 200, "backoffCoefficient": 2.0, "maxBackoffMs": 10000}},
     {"id": "shout", "plugin": {"name": "uppercase", "input": {"text": "{{steps.draft.output.text}}"}}}
   ],
   "output": {"summary": "{{steps.shout.output}}"}})");
  const std::string pipeline = CreatePipeline(stack, definition);  // both kinds advertised
  const HttpResult ran = Call(stack, "POST", "/api/pipelines/" + pipeline + "/runs", "7",
                              {{"input", {{"text", "the cat sat on the mat"}}}, {"waitMs", 20000}});
  INFO(ran.body);
  INFO(stack.Log("plugins"));
  REQUIRE(ran.status == 200);
  const Json run = Json::parse(ran.body);
  CHECK(run["state"] == "SUCCEEDED");
  const std::string draft = run["steps"][0]["output"]["text"];
  std::string shouted = draft;
  for (char& c : shouted) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  CHECK(run["output"] == Json{{"summary", {{"text", shouted}}}});
  CHECK(run["steps"][1]["state"] == "SUCCEEDED");

  // A plugin that throws is retried (a thrown error may pass), then the run fails with its
  // reason and every attempt's error.
  const Json failing = Json::parse(R"({"schemaVersion": 1, "steps": [
     {"id": "shout", "plugin": {"name": "uppercase", "input": {"text": 5}},
      "retry": {"maxAttempts": 2, "initialBackoffMs": 10}}]})");
  const HttpResult failed = Call(stack, "POST", "/api/runs", "7",
                                 {{"definition", failing}, {"input", nullptr}, {"waitMs", 20000}});
  REQUIRE(failed.status == 200);
  const Json failed_run = Json::parse(failed.body);
  CHECK(failed_run["state"] == "FAILED");
  CHECK(failed_run["error"]["reason"] == "PLUGIN_ERROR");
  CHECK(failed_run["steps"][0]["attempts"] == 2);
  CHECK(failed_run["steps"][0]["attemptErrors"].size() == 2);
}

}  // namespace spine::testing

namespace spine::testing {
namespace {

// spine-tasks' resident memory in KiB, from /proc/<pid>/status.
int64_t ResidentKib(Constellation& stack) {
  std::ifstream status(absl::StrCat("/proc/", stack.process("tasks").pid(), "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (absl::StartsWith(line, "VmRSS:")) {
      int64_t kib = 0;
      std::istringstream(line.substr(6)) >> kib;
      return kib;
    }
  }
  return -1;
}

}  // namespace

// The reported attack: an output of 5 000 keys, each the whole 40 000-character input, would
// render 200 MB in spine-tasks (and a stored run that re-rendered it at every restart). It is
// refused with 400 before the run is stored, without spine-tasks' memory growing.
TEST_CASE("template amplification is refused with 400 before the run is stored") {
  Constellation stack(kServices, {{"SPINE_RATE_LIMIT_PER_MINUTE", "100000"}});
  StartStack(stack);
  CreatePipeline(stack, kSummarise);  // spine-llm's models are advertised

  Json amplified = Json::parse(R"({"schemaVersion": 1, "steps": [
    {"id": "draft", "llm": {"model": "stub", "prompt": "hello"}}]})");
  for (int i = 0; i < 5000; ++i) amplified["output"][absl::StrCat("k", i)] = "{{input.big}}";
  const Json input = {{"big", std::string(40000, 'x')}};
  const int64_t resident_before = ResidentKib(stack);
  REQUIRE(resident_before > 0);

  const absl::Time start = absl::Now();
  const HttpResult refused =
      Call(stack, "POST", "/api/runs", "7", {{"definition", amplified}, {"input", input}});
  const absl::Duration took = absl::Now() - start;
  INFO(refused.body.substr(0, 500));
  REQUIRE(refused.status == 400);
  CHECK(took < absl::Seconds(2));
  const Json detail = Json::parse(refused.body)["error"]["details"][0];
  CHECK(detail["reason"] == "TEMPLATE_OUTPUT_TOO_LARGE");
  CHECK(absl::StartsWith(detail["metadata"]["field"].get<std::string>(), "output.k"));
  CHECK(absl::StrContains(Json::parse(refused.body)["error"]["message"].get<std::string>(),
                          "exceeds"));

  // The same through a stored pipeline (its definition alone is fine: the input makes it big).
  const std::string pipeline = CreatePipeline(stack, amplified);
  const HttpResult refused_too =
      Call(stack, "POST", "/api/pipelines/" + pipeline + "/runs", "7", {{"input", input}});
  CHECK(refused_too.status == 400);

  // A prompt repeating the input is as big: refused, naming the prompt.
  Json prompted = Json::parse(R"({"schemaVersion": 1, "steps": [
    {"id": "draft", "llm": {"model": "stub", "prompt": ""}}]})");
  std::string prompt;
  for (int i = 0; i < 30; ++i) prompt += "{{input.big}} ";
  prompted["steps"][0]["llm"]["prompt"] = prompt;
  const HttpResult long_prompt =
      Call(stack, "POST", "/api/runs", "7", {{"definition", prompted}, {"input", input}});
  INFO(long_prompt.body.substr(0, 500));
  CHECK(long_prompt.status == 400);
  CHECK(Json::parse(long_prompt.body)["error"]["details"][0]["metadata"]["field"] ==
        "steps[0].llm.prompt");

  // Nothing was stored, and spine-tasks did not spend the memory.
  const HttpResult listed = Call(stack, "GET", "/api/runs", "7");
  REQUIRE(listed.status == 200);
  CHECK(Json::parse(listed.body)["runs"].empty());
  const int64_t resident_after = ResidentKib(stack);
  INFO("VmRSS before " << resident_before << " KiB, after " << resident_after << " KiB");
  CHECK(resident_after - resident_before < int64_t{64} * 1024);
}

}  // namespace spine::testing
