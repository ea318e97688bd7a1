// Pipelines and runs through the real gateway, storage, llm and tasks binaries: the routes of
// API.md's "Pipelines and runs", with LLM steps carried over the event bus to spine-llm and
// their results back, and a run that survives spine-tasks being SIGKILLed.
#include <catch2/catch.hpp>
#include <csignal>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/auth/jwt.h"
#include "libs/core/clock.h"
#include "nlohmann/json.hpp"
#include "tests/integration/constellation.h"
#include "tests/support/http_client.h"

namespace spine::testing {
namespace {

using Json = nlohmann::json;

std::string Bearer(const Constellation& stack, const std::string& user) {
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
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  HttpResult created;
  while (absl::Now() < give_up) {
    created = Call(stack, "POST", "/api/pipelines", "7",
                   {{"name", "summarise"}, {"definition", definition}});
    if (created.status == 201) return Json::parse(created.body)["id"];
    absl::SleepFor(absl::Milliseconds(200));
  }
  FAIL("pipeline not created: " << created.status << " " << created.body);
  return "";
}

Json WaitForRun(const Constellation& stack, const std::string& id, const std::string& user = "7",
                absl::Duration timeout = absl::Seconds(30)) {
  const absl::Time give_up = absl::Now() + timeout;
  Json run;
  while (absl::Now() < give_up) {
    const HttpResult got = Call(stack, "GET", "/api/runs/" + id, user);
    REQUIRE(got.status == 200);
    run = Json::parse(got.body);
    const std::string state = run["state"];
    if (state == "SUCCEEDED" || state == "FAILED" || state == "CANCELLED") return run;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return run;
}

// Polls GET /api/llm/models until `model` has `count` generations running (up to 10 s).
bool WaitForRunning(const Constellation& stack, const std::string& model, int count) {
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (absl::Now() < give_up) {
    const Json models = Json::parse(Call(stack, "GET", "/api/llm/models", "7").body)["models"];
    for (const Json& entry : models) {
      if (entry["name"] == model && entry["running"] == count) return true;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return false;
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

TEST_CASE("a cancelled run stops its running LLM step") {
  Constellation stack(kServices, {{"SPINE_RATE_LIMIT_PER_MINUTE", "100000"}});
  StartStack(stack);
  Json slow = kSummarise;
  slow["steps"][0]["llm"]["model"] = "stub-slow";
  CreatePipeline(stack, slow);  // waits for the advertisement
  const HttpResult accepted =
      Call(stack, "POST", "/api/runs", "7", {{"definition", slow}, {"input", {{"text", "x"}}}});
  REQUIRE(accepted.status == 202);
  const std::string id = Json::parse(accepted.body)["id"];
  // The step reached spine-llm and is generating.
  REQUIRE(WaitForRunning(stack, "stub-slow", 1));
  const HttpResult cancelled = Call(stack, "POST", "/api/runs/" + id + "/cancel", "7");
  REQUIRE(cancelled.status == 200);
  const Json run = Json::parse(cancelled.body);
  CHECK(run["state"] == "CANCELLED");
  CHECK(run["steps"][0]["state"] == "CANCELLED");
  CHECK(WaitForRun(stack, id)["state"] == "CANCELLED");

  // The generation on stub-slow was stopped too: its runner is free again.
  CHECK(WaitForRunning(stack, "stub-slow", 0));
}

}  // namespace spine::testing
