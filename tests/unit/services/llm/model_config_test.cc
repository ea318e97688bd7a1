#include "services/llm/model_config.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace spine::llm {
namespace {

TEST_CASE("a full models file is read field by field") {
  absl::StatusOr<std::vector<ModelConfig>> models = ParseModelsJson(R"({"models": [
    {"name": "fast", "backend": "stub", "maxConcurrency": 8, "queueLimit": 500,
     "timeoutMs": 30000, "contextChars": 16000, "stub": {"firstTokenMs": 5, "tokenMs": 2}},
    {"name": "llama3:8b", "backend": "ollama", "baseUrl": "http://127.0.0.1:11434",
     "backendModel": "llama3:8b-instruct"},
    {"name": "gpt", "backend": "openai", "baseUrl": "https://api.example.com/v1",
     "apiKeyEnv": "SPINE_OPENAI_KEY"}
  ]})");
  INFO(models.status().ToString());
  REQUIRE(models.ok());
  REQUIRE(models->size() == 3);

  const ModelConfig& fast = (*models)[0];
  CHECK(fast.name == "fast");
  CHECK(fast.backend == "stub");
  CHECK(fast.base_url.empty());
  CHECK(fast.backend_model == "fast");  // defaults to the name
  CHECK(fast.max_concurrency == 8);
  CHECK(fast.queue_limit == 500);
  CHECK(fast.timeout == absl::Seconds(30));
  CHECK(fast.context_chars == 16000);
  CHECK(fast.stub_first_token == absl::Milliseconds(5));
  CHECK(fast.stub_token == absl::Milliseconds(2));

  const ModelConfig& llama = (*models)[1];
  CHECK(llama.backend == "ollama");
  CHECK(llama.base_url == "http://127.0.0.1:11434");
  CHECK(llama.backend_model == "llama3:8b-instruct");
  CHECK(llama.max_concurrency == 1);
  CHECK(llama.queue_limit == 100);
  CHECK(llama.timeout == absl::Seconds(120));
  CHECK(llama.context_chars == 32000);

  const ModelConfig& gpt = (*models)[2];
  CHECK(gpt.api_key_env == "SPINE_OPENAI_KEY");
  CHECK(gpt.api_key_file.empty());
}

TEST_CASE("every problem in the models file is named with its path") {
  // A valid model with one field replaced or added.
  auto with = [](const std::string& fields) {
    return absl::StrCat(R"({"models": [{"name": "ok", "backend": "stub"}, {"name": "m", )", fields,
                        "}]}");
  };
  struct Case {
    std::string json;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"not json", "not valid JSON"},
      {"[]", "(document): an array, want an object"},
      {"{}", "models: missing"},
      {R"({"models": [], "extra": 1})", "extra: unknown field"},
      {R"({"models": {}})", "models: an object, want an array"},
      {R"({"models": []})", "models: empty"},
      {R"({"models": [3]})", "models[0]: an integer, want an object"},
      {with(R"("backend": "stub", "colour": "red")"), "models[1].colour: unknown field"},
      {R"({"models": [{"backend": "stub"}]})", "models[0].name: missing"},
      {with(R"("backend": "stub", "name": "")"), "models[1].name: empty"},
      {R"({"models": [{"name": "a b", "backend": "stub"}]})", "models[0].name: \"a b\""},
      {R"({"models": [{"name": 5, "backend": "stub"}]})",
       "models[0].name: an integer, want a string"},
      {R"({"models": [{"name": "m"}]})", "models[0].backend: missing"},
      {with(R"("backend": "gemini")"), "models[1].backend: \"gemini\", must be"},
      {with(R"("backend": "stub", "baseUrl": "http://x")"),
       "models[1].baseUrl: not used by the stub"},
      {with(R"("backend": "ollama")"), "models[1].baseUrl: missing (required for ollama)"},
      {with(R"("backend": "openai", "baseUrl": "ftp://x")"),
       "models[1].baseUrl: \"ftp://x\" is not"},
      {with(R"("backend": "stub", "maxConcurrency": 0)"),
       "models[1].maxConcurrency: 0, must be 1..1000"},
      {with(R"("backend": "stub", "maxConcurrency": 1.5)"),
       "models[1].maxConcurrency: a number, want an integer"},
      {with(R"("backend": "stub", "maxConcurrency": "4")"),
       "models[1].maxConcurrency: a string, want an integer"},
      {with(R"("backend": "stub", "queueLimit": 0)"), "models[1].queueLimit: 0, must be 1..10000"},
      {with(R"("backend": "stub", "queueLimit": 10001)"),
       "models[1].queueLimit: 10001, must be 1..10000"},
      {with(R"("backend": "stub", "queueLimit": 18446744073709551615)"),
       "models[1].queueLimit: 18446744073709551615, must be"},
      {with(R"("backend": "stub", "timeoutMs": -1)"),
       "models[1].timeoutMs: -1, must be 1..3600000"},
      {with(R"("backend": "stub", "contextChars": true)"),
       "models[1].contextChars: a boolean, want an integer"},
      {with(R"("backend": "stub", "backendModel": null)"),
       "models[1].backendModel: null, want a string"},
      {with(R"("backend": "stub", "apiKeyEnv": "K")"),
       "models[1].apiKeyEnv: only the openai backend"},
      {with(R"("backend": "openai", "baseUrl": "http://x", "apiKeyEnv": "K", "apiKeyFile": "/k")"),
       "models[1].apiKeyFile: give apiKeyEnv or apiKeyFile, not both"},
      {with(R"("backend": "ollama", "baseUrl": "http://x", "stub": {})"),
       "models[1].stub: only the stub backend"},
      {with(R"("backend": "stub", "stub": [])"), "models[1].stub: an array, want an object"},
      {with(R"("backend": "stub", "stub": {"delayMs": 1})"),
       "models[1].stub.delayMs: unknown field"},
      {with(R"("backend": "stub", "stub": {"firstTokenMs": -5})"),
       "models[1].stub.firstTokenMs: -5, must be 0..600000"},
      {with(R"("backend": "stub", "stub": {"tokenMs": 60001})"),
       "models[1].stub.tokenMs: 60001, must be 0..60000"},
      {R"({"models": [{"name": "a", "backend": "stub"}, {"name": "b", "backend": "stub"},
                      {"name": "a", "backend": "stub"}]})",
       "models[2].name: \"a\" is already used by models[0]"},
  };
  for (const Case& c : cases) {
    INFO(c.json);
    absl::StatusOr<std::vector<ModelConfig>> models = ParseModelsJson(c.json);
    REQUIRE(models.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(models.status().message()), Catch::StartsWith(c.message));
  }
}

TEST_CASE("the shipped default models file has a fast and a slow stub") {
  absl::StatusOr<std::vector<ModelConfig>> models =
      LoadModelsFile(SPINE_SOURCE_DIR "/services/llm/models.default.json");
  INFO(models.status().ToString());
  REQUIRE(models.ok());
  REQUIRE(models->size() == 2);
  const ModelConfig& fast = (*models)[0];
  const ModelConfig& slow = (*models)[1];
  CHECK(fast.name == "stub");
  CHECK(fast.backend == "stub");
  CHECK(fast.stub_first_token == absl::ZeroDuration());
  CHECK(fast.stub_token <= absl::Milliseconds(1));
  CHECK(slow.name == "stub-slow");
  CHECK(slow.backend == "stub");
  CHECK(slow.max_concurrency == 1);
  // Even the shortest reply (8 tokens) takes seconds.
  CHECK(slow.stub_first_token + slow.stub_token * 7 >= absl::Seconds(2));
}

TEST_CASE("a models file that cannot be read is NOT_FOUND naming the path") {
  absl::StatusOr<std::vector<ModelConfig>> models = LoadModelsFile("/nonexistent/models.json");
  CHECK(models.status().code() == absl::StatusCode::kNotFound);
  CHECK_THAT(std::string(models.status().message()), Catch::Contains("/nonexistent/models.json"));
}

}  // namespace
}  // namespace spine::llm
