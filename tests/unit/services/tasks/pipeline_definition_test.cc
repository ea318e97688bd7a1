// Pipeline definitions: API.md's example parses with its defaults filled in, and every rule of
// "Pipelines and runs" refuses with INVALID_ARGUMENT naming the place.
#include "services/tasks/pipeline/pipeline_definition.h"

#include <catch2/catch.hpp>
#include <set>
#include <string>

#include "google/protobuf/util/json_util.h"
#include "libs/rpc/error_info.h"

namespace spine::tasks {
namespace {

class FakeCatalog final : public CapabilityCatalog {
 public:
  bool HasModel(absl::string_view name) const override { return name == "stub"; }
  bool HasPlugin(absl::string_view name) const override {
    return name == "hello-world" || name == "uppercase";
  }
};

google::protobuf::Struct Definition(const std::string& json) {
  google::protobuf::Struct definition;
  REQUIRE(google::protobuf::util::JsonStringToMessage(json, &definition).ok());
  return definition;
}

constexpr char kExample[] = R"({"schemaVersion": 1,
 "steps": [
   {"id": "draft", "llm": {"model": "stub", "prompt": "Summarise: {{input.text}}"},
    "timeoutMs": 30000,
    "retry": {"maxAttempts": 3, "initialBackoffMs": 200, "backoffCoefficient": 2.0, "maxBackoffMs": 10000}},
   {"id": "shout", "plugin": {"name": "hello-world", "input": {"text": "{{steps.draft.output.text}}"}}}
 ],
 "output": {"summary": "{{steps.shout.output}}"}})";

struct Refusal {
  std::string reason;
  std::string field;
  std::string message;
};

Refusal Refuse(const std::string& json) {
  const FakeCatalog catalog;
  const auto parsed = ParsePipelineDefinition(Definition(json), &catalog);
  REQUIRE_FALSE(parsed.ok());
  REQUIRE(parsed.status().code() == absl::StatusCode::kInvalidArgument);
  const auto info = rpc::GetErrorInfo(parsed.status());
  REQUIRE(info.has_value());
  const auto field = info->metadata().find("field");
  return {info->reason(), field == info->metadata().end() ? "" : field->second,
          std::string(parsed.status().message())};
}

// A one-step pipeline with `step` (JSON members) as its step.
std::string OneStep(const std::string& step) {
  return R"({"schemaVersion": 1, "steps": [{"id": "a", )" + step + "}]}";
}

TEST_CASE("API.md's example parses, with the defaults filled in") {
  const FakeCatalog catalog;
  const auto parsed = ParsePipelineDefinition(Definition(kExample), &catalog);
  REQUIRE(parsed.ok());
  REQUIRE(parsed->steps_size() == 2);
  CHECK(parsed->steps(0).timeout_ms() == 30000);
  CHECK(parsed->steps(0).retry().max_attempts() == 3);
  // The plugin step got every default.
  const auto& shout = parsed->steps(1);
  CHECK(shout.timeout_ms() == 5000);
  CHECK(shout.retry().max_attempts() == 3);
  CHECK(shout.retry().initial_backoff_ms() == 200);
  CHECK(shout.retry().backoff_coefficient() == 2.0);
  CHECK(shout.retry().max_backoff_ms() == 10000);
  CHECK(parsed->has_output());
}

TEST_CASE("any schemaVersion but 1 is UNSUPPORTED_SCHEMA_VERSION listing the supported") {
  for (const char* version : {"2", "0", "\"1\"", "1.5", "null"}) {
    INFO(version);
    const Refusal refusal =
        Refuse(std::string(R"({"schemaVersion": )") + version + R"(, "steps": []})");
    CHECK(refusal.reason == "UNSUPPORTED_SCHEMA_VERSION");
    CHECK(refusal.message.find("supported versions: 1") != std::string::npos);
  }
  CHECK(Refuse(R"({"steps": []})").reason == "UNSUPPORTED_SCHEMA_VERSION");
}

TEST_CASE("each rule refuses with the place named") {
  struct Case {
    std::string json;
    std::string field;
    std::string reason = "INVALID_PIPELINE";
  };
  const Case cases[] = {
      {R"({"schemaVersion": 1, "steps": []})", "steps"},
      {OneStep(R"("llm": {"model": "stub", "prompt": "x"}, "colour": "red")"), "definition"},
      {OneStep(R"("note": 1)"), "definition"},
      {R"({"schemaVersion": 1, "steps": [{"id": "a"}]})", "steps[0]"},
      {OneStep(R"("llm": {"model": "stub", "prompt": "x"}, "plugin": {"name": "uppercase"})"),
       "definition"},
      {R"({"schemaVersion": 1, "steps": [{"id": "9lives", "plugin": {"name": "uppercase"}}]})",
       "steps[0].id"},
      {R"({"schemaVersion": 1, "steps": [{"id": "a.b", "plugin": {"name": "uppercase"}}]})",
       "steps[0].id"},
      {R"({"schemaVersion": 1, "steps": [{"id": "a", "plugin": {"name": "uppercase"}},
                                          {"id": "a", "plugin": {"name": "uppercase"}}]})",
       "steps[1].id"},
      {OneStep(R"("llm": {"model": "gpt-9", "prompt": "x"})"), "steps[0].llm.model",
       "UNKNOWN_MODEL"},
      {OneStep(R"("plugin": {"name": "rm-rf"})"), "steps[0].plugin.name", "UNKNOWN_PLUGIN"},
      {OneStep(R"("llm": {"model": "stub", "prompt": ""})"), "steps[0].llm.prompt"},
      {OneStep(R"("llm": {"model": "stub", "prompt": "{{steps.b.output}}"})"),
       "steps[0].llm.prompt"},
      {R"({"schemaVersion": 1, "steps": [
           {"id": "a", "llm": {"model": "stub", "prompt": "{{steps.b.output.text}}"}},
           {"id": "b", "plugin": {"name": "uppercase"}}]})",
       "steps[0].llm.prompt"},
      {OneStep(R"("plugin": {"name": "uppercase", "input": {"t": "{{secrets.key}}"}})"),
       "steps[0].plugin.input"},
      {OneStep(R"("plugin": {"name": "uppercase", "input": "{{input.x"})"),
       "steps[0].plugin.input"},
      {OneStep(R"("plugin": {"name": "uppercase"}, "timeoutMs": 60001)"), "steps[0].timeoutMs"},
      {OneStep(R"("llm": {"model": "stub", "prompt": "x"}, "timeoutMs": 0)"), "steps[0].timeoutMs"},
      {OneStep(R"("plugin": {"name": "uppercase"}, "retry": {"maxAttempts": 11})"),
       "steps[0].retry.maxAttempts"},
      {OneStep(R"("plugin": {"name": "uppercase"}, "retry": {"backoffCoefficient": 0.5})"),
       "steps[0].retry.backoffCoefficient"},
      {OneStep(R"("plugin": {"name": "uppercase"},
                  "retry": {"initialBackoffMs": 5000, "maxBackoffMs": 1000})"),
       "steps[0].retry.maxBackoffMs"},
      {OneStep(R"("llm": {"model": "stub", "prompt": "x", "temperature": 3})"),
       "steps[0].llm.temperature"},
      {R"({"schemaVersion": 1, "steps": [{"id": "a", "plugin": {"name": "uppercase"}}],
           "output": "{{steps.z.output}}"})",
       "output"},
  };
  for (const Case& c : cases) {
    INFO(c.json);
    const Refusal refusal = Refuse(c.json);
    INFO(refusal.message);
    CHECK(refusal.field == c.field);
    CHECK(refusal.reason == c.reason);
    CHECK(refusal.message.rfind(c.field + ":", 0) == 0);
  }
}

TEST_CASE("at most 16 steps") {
  std::string steps;
  for (int i = 0; i < 17; ++i) {
    if (i > 0) steps += ",";
    steps += R"({"id": "s)" + std::to_string(i) + R"(", "plugin": {"name": "uppercase"}})";
  }
  CHECK(Refuse(R"({"schemaVersion": 1, "steps": [)" + steps + "]}").field == "steps");
}

TEST_CASE("without a catalog, models and plugins are not checked") {
  const auto parsed = ParsePipelineDefinition(
      Definition(OneStep(R"("llm": {"model": "anything", "prompt": "x"})")), nullptr);
  CHECK(parsed.ok());
}

}  // namespace
}  // namespace spine::tasks
