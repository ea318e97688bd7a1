// spine-llm through the real gateway, storage and llm binaries with stub models: the API.md
// routes, and the plan's starvation gate — a busy slow model never delays another, a full
// queue answers at once.
#include <catch2/catch.hpp>
#include <csignal>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/auth/jwt.h"
#include "libs/core/clock.h"
#include "nlohmann/json.hpp"
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

HttpResult Post(const Constellation& stack, const std::string& user, const std::string& path,
                const Json& body) {
  return HttpRequestTo(
      stack.http_port(), "POST", path,
      {{"Authorization", Bearer(stack, user)}, {"Content-Type", "application/json"}}, body.dump());
}

// `field` ("running" or "queued") of `model`, from GET /api/llm/models.
int ModelStat(const Constellation& stack, const std::string& model, const std::string& field) {
  const HttpResult models = HttpRequestTo(stack.http_port(), "GET", "/api/llm/models",
                                          {{"Authorization", Bearer(stack, "1")}});

  if (models.status != 200) return -1;
  const Json parsed = Json::parse(models.body);  // a named value: the loop refers into it
  for (const Json& entry : parsed["models"]) {
    if (entry["name"] == model) return entry[field].get<int>();
  }
  return -1;
}

int Running(const Constellation& stack, const std::string& model) {
  return ModelStat(stack, model, "running");
}

bool WaitStat(const Constellation& stack, const std::string& model, const std::string& field,
              int count) {
  return spine::testing::PollUntil([&] { return ModelStat(stack, model, field) == count; },
                                   spine::testing::kPollTimeout, absl::Milliseconds(20));
}

// Joins a background request's thread however the test ends.
class JoinOnExit {
 public:
  explicit JoinOnExit(std::thread& thread) : thread_(thread) {}
  ~JoinOnExit() {
    if (thread_.joinable()) thread_.join();
  }
  JoinOnExit(const JoinOnExit&) = delete;
  JoinOnExit& operator=(const JoinOnExit&) = delete;

 private:
  std::thread& thread_;
};

void StartStack(Constellation& stack) {
  for (const char* service : {"storage", "llm", "gateway"}) {
    INFO(service << ": " << stack.Log(service));
    REQUIRE(stack.WaitHealthy(service, absl::Seconds(15)));
  }
}

}  // namespace

TEST_CASE("generate, stream and list models work through HTTP as API.md says") {
  Constellation stack(std::vector<std::string>{"storage", "llm", "gateway"});
  StartStack(stack);

  const HttpResult models = HttpRequestTo(stack.http_port(), "GET", "/api/llm/models",
                                          {{"Authorization", Bearer(stack, "1")}});
  REQUIRE(models.status == 200);
  const Json listed = Json::parse(models.body)["models"];
  REQUIRE(listed.size() == 2);
  CHECK(listed[0]["name"] == "stub");
  CHECK(listed[0]["backend"] == "stub");
  CHECK(listed[1]["name"] == "stub-slow");
  CHECK(listed[1]["maxConcurrency"] == 1);

  const HttpResult generated =
      Post(stack, "1", "/api/llm/generate", {{"model", "stub"}, {"prompt", "hello there"}});
  REQUIRE(generated.status == 200);
  const Json answer = Json::parse(generated.body);
  CHECK(answer["model"] == "stub");
  CHECK_FALSE(answer["text"].get<std::string>().empty());
  CHECK(answer["finishReason"] == "stop");
  CHECK(answer["promptTokens"].get<int>() > 0);
  CHECK(answer.contains("queueWaitMs"));
  CHECK(answer.contains("durationMs"));

  const HttpResult streamed =
      Post(stack, "1", "/api/llm/stream", {{"model", "stub"}, {"prompt", "hello there"}});
  REQUIRE(streamed.status == 200);
  CHECK(streamed.headers.at("content-type") == "text/event-stream");
  CHECK(streamed.body.rfind("data: {\"delta\":", 0) == 0);
  const size_t done = streamed.body.find("event: done\ndata: ");
  REQUIRE(done != std::string::npos);
  const std::string final_json = streamed.body.substr(done + 18);
  CHECK(Json::parse(final_json.substr(0, final_json.find('\n')))["text"] == answer["text"]);

  const HttpResult unknown =
      Post(stack, "1", "/api/llm/generate", {{"model", "gpt-9"}, {"prompt", "x"}});
  CHECK(unknown.status == 404);
  const HttpResult too_long = Post(stack, "1", "/api/llm/generate",
                                   {{"model", "stub"}, {"prompt", std::string(100001, 'x')}});
  CHECK(too_long.status == 400);
  CHECK(HttpRequestTo(stack.http_port(), "POST", "/api/llm/generate",
                      {{"Content-Type", "application/json"}}, R"({"model":"stub","prompt":"x"})")
            .status == 401);
}

TEST_CASE("a busy slow model does not delay a prompt to another model") {
  // These tests poll /api/llm/models; the per-IP rate limit is not what they are about.
  Constellation stack(std::vector<std::string>{"storage", "llm", "gateway"},
                      {{"SPINE_RATE_LIMIT_PER_MINUTE", "100000"}});
  StartStack(stack);
  HttpResult slow_result;
  std::thread slow([&] {
    slow_result = Post(stack, "1", "/api/llm/generate",
                       {{"model", "stub-slow"}, {"prompt", "take your time"}});
  });
  JoinOnExit join_slow(slow);
  REQUIRE(WaitStat(stack, "stub-slow", "running", 1));
  const HttpResult fast =
      Post(stack, "2", "/api/llm/generate", {{"model", "stub"}, {"prompt", "quick"}});
  REQUIRE(fast.status == 200);
  CHECK(std::stoll(Json::parse(fast.body)["queueWaitMs"].dump()) <= 50);
  CHECK(Running(stack, "stub-slow") == 1);  // still busy: the fast one did not wait for it

  // /metrics shows the busy runner (from spine-llm's status probe).
  const HttpResult metrics = HttpRequestTo(stack.http_port(), "GET", "/metrics");
  REQUIRE(metrics.status == 200);
  INFO(metrics.body);
  CHECK(metrics.body.find("spine_llm_running{service=\"llm\",model=\"stub-slow\"} 1\n") !=
        std::string::npos);
  CHECK(
      metrics.body.find("spine_llm_runner_utilisation{service=\"llm\",model=\"stub-slow\"} 1\n") !=
      std::string::npos);
  CHECK(metrics.body.find("spine_service_up{service=\"llm\"} 1\n") != std::string::npos);
}

TEST_CASE("a full model queue answers 429 QUEUE_FULL at once with Retry-After") {
  TempDir dir;
  const std::string models = dir.WriteFile("models.json", R"({"models": [
      {"name": "one-slot", "backend": "stub", "maxConcurrency": 1, "queueLimit": 1,
       "timeoutMs": 60000, "contextChars": 1000, "stub": {"firstTokenMs": 3000, "tokenMs": 0}}]})",
                                           0644);
  Constellation stack(
      std::vector<std::string>{"storage", "llm", "gateway"},
      {{"SPINE_LLM_MODELS_FILE", models}, {"SPINE_RATE_LIMIT_PER_MINUTE", "100000"}});
  StartStack(stack);
  std::thread running([&] {
    (void)Post(stack, "1", "/api/llm/generate", {{"model", "one-slot"}, {"prompt", "first"}});
  });
  JoinOnExit join_running(running);
  REQUIRE(WaitStat(stack, "one-slot", "running", 1));
  std::thread queued([&] {
    (void)Post(stack, "1", "/api/llm/generate", {{"model", "one-slot"}, {"prompt", "second"}});
  });
  JoinOnExit join_queued(queued);
  // The second waits in the queue; the third finds it full and hears so at once.
  REQUIRE(WaitStat(stack, "one-slot", "queued", 1));
  const absl::Time start = absl::Now();
  const HttpResult refused =
      Post(stack, "1", "/api/llm/generate", {{"model", "one-slot"}, {"prompt", "third"}});
  CHECK(absl::Now() - start < absl::Seconds(1));
  REQUIRE(refused.status == 429);
  const Json error = Json::parse(refused.body)["error"];
  CHECK(error["status"] == "RESOURCE_EXHAUSTED");
  CHECK(error["details"][0]["reason"] == "QUEUE_FULL");
  CHECK(refused.headers.count("retry-after") == 1);
}

TEST_CASE("a conversation keeps its turns through HTTP") {
  Constellation stack(std::vector<std::string>{"storage", "llm", "gateway"});
  StartStack(stack);
  const HttpResult created = Post(stack, "7", "/api/conversations",
                                  {{"model", "stub"}, {"system", "be brief"}, {"title", "plans"}});
  REQUIRE(created.status == 201);
  const Json conversation = Json::parse(created.body);
  const std::string id = conversation["id"];
  CHECK(created.headers.at("location") == "/api/conversations/" + id);
  CHECK(conversation["model"] == "stub");

  const HttpResult sent =
      Post(stack, "7", "/api/conversations/" + id + "/messages", {{"content", "hello"}});
  REQUIRE(sent.status == 200);
  const Json turn = Json::parse(sent.body);
  CHECK(turn["reply"]["role"] == "assistant");
  CHECK_FALSE(turn["reply"]["content"].get<std::string>().empty());

  const HttpResult fetched = HttpRequestTo(stack.http_port(), "GET", "/api/conversations/" + id,
                                           {{"Authorization", Bearer(stack, "7")}});
  REQUIRE(fetched.status == 200);
  const Json messages = Json::parse(fetched.body)["messages"];
  REQUIRE(messages.size() >= 2);
  CHECK(messages[messages.size() - 2]["content"] == "hello");
  CHECK(messages.back()["role"] == "assistant");

  CHECK(HttpRequestTo(stack.http_port(), "GET", "/api/conversations/" + id,
                      {{"Authorization", Bearer(stack, "8")}})
            .status == 404);
  const HttpResult listed = HttpRequestTo(stack.http_port(), "GET", "/api/conversations",
                                          {{"Authorization", Bearer(stack, "7")}});
  REQUIRE(listed.status == 200);
  CHECK(Json::parse(listed.body)["conversations"].size() == 1);
  CHECK(HttpRequestTo(stack.http_port(), "DELETE", "/api/conversations/" + id,
                      {{"Authorization", Bearer(stack, "7")}})
            .status == 204);
}

}  // namespace spine::testing

namespace spine::testing {

TEST_CASE("a conversation left replying by a killed spine-llm takes messages after restart") {
  Constellation stack(std::vector<std::string>{"storage", "llm", "gateway"},
                      {{"SPINE_RATE_LIMIT_PER_MINUTE", "100000"}});
  StartStack(stack);
  const HttpResult created = Post(stack, "7", "/api/conversations", {{"model", "stub-slow"}});
  REQUIRE(created.status == 201);
  const std::string id = Json::parse(created.body)["id"];

  // A reply is under way on stub-slow when spine-llm dies.
  HttpResult interrupted;
  std::thread sender([&] {
    interrupted =
        Post(stack, "7", "/api/conversations/" + id + "/messages", {{"content", "first"}});
  });
  JoinOnExit join_sender(sender);
  REQUIRE(WaitStat(stack, "stub-slow", "running", 1));
  stack.process("llm").Signal(SIGKILL);
  REQUIRE(stack.process("llm").WaitExit(absl::Seconds(10)));
  sender.join();
  CHECK(interrupted.status >= 500);

  // Storage still says "replying"; the new process knows it is not replying to it.
  stack.Restart("llm");
  REQUIRE(stack.WaitHealthy("llm", absl::Seconds(15)));
  const HttpResult sent =
      Post(stack, "7", "/api/conversations/" + id + "/messages", {{"content", "second"}});
  INFO(sent.body);
  REQUIRE(sent.status == 200);
  const Json messages = Json::parse(sent.body)["conversation"]["messages"];
  // Both user messages are kept; only the second got a reply.
  REQUIRE(messages.size() == 3);
  CHECK(messages[0]["content"] == "first");
  CHECK(messages[1]["content"] == "second");
  CHECK(messages[2]["role"] == "assistant");
}

}  // namespace spine::testing
