// Fuzz target for ParsePipelineDefinition (services/tasks/pipeline/pipeline_definition.h): the
// pipeline a user sends to POST /api/pipelines and POST /api/runs.
//
// The input is JSON text; what protobuf takes as a Struct (as the gateway would) is parsed
// against a catalog that knows one model ("stub") and one plugin ("hello-world"), and without one.
//
// Properties checked on every input:
//  - the parser never crashes;
//  - a refusal is INVALID_ARGUMENT with one of the documented reasons and a non-empty message;
//  - an accepted definition is within every documented bound, with its defaults filled in: 1..16
//    steps with unique non-empty ids, each exactly one of llm or plugin, timeoutMs and the retry
//    policy in range;
//  - what passes with the catalog passes without it, and the parsed definition, sent again,
//    parses to itself (defaults are stable).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>

#include "absl/strings/string_view.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "libs/rpc/error_info.h"
#include "services/tasks/pipeline/pipeline_definition.h"

namespace {

void Fail(const char* what) {
  std::fprintf(stderr, "pipeline_definition_fuzz: %s\n", what);
  std::abort();
}

class Catalog final : public spine::tasks::CapabilityCatalog {
 public:
  bool HasModel(absl::string_view name) const override { return name == "stub"; }
  bool HasPlugin(absl::string_view name) const override { return name == "hello-world"; }
};

void CheckRefusal(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kInvalidArgument) Fail("not INVALID_ARGUMENT");
  if (status.message().empty()) Fail("empty message");
  const auto info = spine::rpc::GetErrorInfo(status);
  if (!info) Fail("no ErrorInfo");
  static const std::set<std::string> kReasons = {"INVALID_PIPELINE", "UNKNOWN_MODEL",
                                                 "UNKNOWN_PLUGIN", "UNSUPPORTED_SCHEMA_VERSION"};
  if (kReasons.count(info->reason()) == 0) Fail("undocumented reason");
}

void CheckBounds(const spine::v1::PipelineDefinitionV1& definition) {
  const spine::tasks::StepLimits limits;
  if (definition.schema_version() != 1) Fail("schemaVersion is not 1");
  if (definition.steps_size() < 1 || definition.steps_size() > spine::tasks::kMaxSteps) {
    Fail("step count out of range");
  }
  std::set<std::string> ids;
  for (const spine::v1::PipelineStep& step : definition.steps()) {
    if (step.id().empty() || !ids.insert(step.id()).second) Fail("empty or repeated step id");
    const bool llm = step.kind_case() == spine::v1::PipelineStep::kLlm;
    if (!llm && step.kind_case() != spine::v1::PipelineStep::kPlugin) Fail("step of no kind");
    const int max_timeout = llm ? limits.max_llm_timeout_ms : limits.max_plugin_timeout_ms;
    if (!step.has_timeout_ms() || step.timeout_ms() < 1 || step.timeout_ms() > max_timeout) {
      Fail("timeoutMs missing or out of range");
    }
    const spine::v1::RetryPolicy& retry = step.retry();
    if (retry.max_attempts() < 1 || retry.max_attempts() > limits.max_max_attempts ||
        retry.initial_backoff_ms() < 1 ||
        retry.initial_backoff_ms() > limits.max_initial_backoff_ms ||
        !(retry.backoff_coefficient() >= 1 &&
          retry.backoff_coefficient() <= limits.max_backoff_coefficient) ||
        retry.max_backoff_ms() < retry.initial_backoff_ms() ||
        retry.max_backoff_ms() > limits.max_max_backoff_ms) {
      Fail("retry policy out of range");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Bytes from a fuzzer are a char buffer by contract.
  const std::string json(reinterpret_cast<const char*>(data), size);
  google::protobuf::Struct definition;
  if (!google::protobuf::util::JsonStringToMessage(json, &definition).ok()) return 0;
  const Catalog catalog;
  const auto checked = spine::tasks::ParsePipelineDefinition(definition, &catalog);
  const auto unchecked = spine::tasks::ParsePipelineDefinition(definition, nullptr);
  if (!unchecked.ok()) {
    CheckRefusal(unchecked.status());
    if (checked.ok()) Fail("accepted with a catalog, refused without");
  }
  if (!checked.ok()) {
    CheckRefusal(checked.status());
    return 0;
  }
  CheckBounds(*checked);
  // The parsed definition, as JSON again, is a definition that parses to itself.
  std::string again_json;
  if (!google::protobuf::util::MessageToJsonString(*checked, &again_json).ok()) {
    Fail("the parsed definition does not print");
  }
  google::protobuf::Struct again;
  if (!google::protobuf::util::JsonStringToMessage(again_json, &again).ok()) {
    Fail("the parsed definition does not read back");
  }
  const auto reparsed = spine::tasks::ParsePipelineDefinition(again, &catalog);
  if (!reparsed.ok()) Fail("the parsed definition is refused when sent again");
  if (!google::protobuf::util::MessageDifferencer::Equals(*reparsed, *checked)) {
    Fail("the parsed definition changes when sent again");
  }
  return 0;
}
