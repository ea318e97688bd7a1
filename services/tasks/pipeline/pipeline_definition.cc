#include "services/tasks/pipeline/pipeline_definition.h"

#include <cmath>
#include <optional>
#include <set>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/util/json_util.h"
#include "libs/core/status.h"
#include "libs/rpc/error_info.h"
#include "services/tasks/pipeline/template.h"

namespace spine::tasks {
namespace {

using spine::v1::PipelineDefinitionV1;
using spine::v1::PipelineStep;

absl::Status Invalid(const std::string& field, absl::string_view problem,
                     absl::string_view reason = "INVALID_PIPELINE") {
  return rpc::WithErrorInfo(absl::InvalidArgumentError(absl::StrCat(field, ": ", problem)), reason,
                            {{"field", field}});
}

bool IsStepId(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  if (!((id[0] >= 'a' && id[0] <= 'z') || (id[0] >= 'A' && id[0] <= 'Z'))) return false;
  for (const char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

absl::Status CheckSchemaVersion(const google::protobuf::Struct& definition) {
  const auto& fields = definition.fields();
  const auto it = fields.find("schemaVersion");
  std::optional<double> version;
  if (it != fields.end() && it->second.has_number_value()) version = it->second.number_value();
  if (version && *version == 1) return absl::OkStatus();
  const std::string given = it == fields.end() ? "missing" : CompactJson(it->second);
  return rpc::WithErrorInfo(
      absl::InvalidArgumentError(absl::StrCat("schemaVersion: ", given,
                                              "; supported versions: ", kSupportedSchemaVersions)),
      "UNSUPPORTED_SCHEMA_VERSION", {{"field", "schemaVersion"}, {"supported", "1"}});
}

// The templates of `where` refer to input or to one of `visible` steps' output.
absl::Status CheckReferences(const std::string& where,
                             const absl::StatusOr<std::vector<TemplatePath>>& found,
                             const absl::flat_hash_set<std::string>& visible,
                             const absl::flat_hash_set<std::string>& all) {
  if (!found.ok()) return Invalid(where, found.status().message());
  for (const TemplatePath& path : *found) {
    const std::string name = absl::StrJoin(path, ".");
    if (path[0] == "input") continue;
    if (path[0] != "steps" || path.size() < 3 || path[2] != "output") {
      return Invalid(
          where, absl::StrCat("template '{{", name, "}}' must name input.… or steps.<id>.output…"));
    }
    if (!visible.contains(path[1])) {
      return Invalid(where, absl::StrCat("template '{{", name, "}}' names ",
                                         all.contains(path[1]) ? "a later step" : "no step", " '",
                                         path[1], "'"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckRange(const std::string& field, int64_t value, int64_t low, int64_t high) {
  if (value >= low && value <= high) return absl::OkStatus();
  return Invalid(field, absl::StrCat(value, ", must be ", low, "..", high));
}

absl::Status FillPolicy(const std::string& where, PipelineStep& step, const StepLimits& limits) {
  const bool is_llm = step.has_llm();
  const int default_timeout =
      is_llm ? limits.default_llm_timeout_ms : limits.default_plugin_timeout_ms;
  const int max_timeout = is_llm ? limits.max_llm_timeout_ms : limits.max_plugin_timeout_ms;
  if (!step.has_timeout_ms()) step.set_timeout_ms(default_timeout);
  if (absl::Status status = CheckRange(where + ".timeoutMs", step.timeout_ms(), 1, max_timeout);
      !status.ok()) {
    return status;
  }
  spine::v1::RetryPolicy& retry = *step.mutable_retry();
  // 0 is proto3's "not given"; it is out of every range anyway.
  if (retry.max_attempts() == 0) retry.set_max_attempts(limits.default_max_attempts);
  if (retry.initial_backoff_ms() == 0) {
    retry.set_initial_backoff_ms(limits.default_initial_backoff_ms);
  }
  if (retry.backoff_coefficient() == 0) {
    retry.set_backoff_coefficient(limits.default_backoff_coefficient);
  }
  if (retry.max_backoff_ms() == 0) {
    retry.set_max_backoff_ms(std::max(limits.default_max_backoff_ms, retry.initial_backoff_ms()));
  }
  const std::string r = where + ".retry";
  SPINE_RETURN_IF_ERROR(
      CheckRange(r + ".maxAttempts", retry.max_attempts(), 1, limits.max_max_attempts));
  SPINE_RETURN_IF_ERROR(CheckRange(r + ".initialBackoffMs", retry.initial_backoff_ms(), 1,
                                   limits.max_initial_backoff_ms));
  if (!(retry.backoff_coefficient() >= 1.0 &&
        retry.backoff_coefficient() <= limits.max_backoff_coefficient)) {
    return Invalid(
        r + ".backoffCoefficient",
        absl::StrCat(retry.backoff_coefficient(), ", must be 1..", limits.max_backoff_coefficient));
  }
  return CheckRange(r + ".maxBackoffMs", retry.max_backoff_ms(), retry.initial_backoff_ms(),
                    limits.max_max_backoff_ms);
}

}  // namespace

absl::StatusOr<PipelineDefinitionV1> ParsePipelineDefinition(
    const google::protobuf::Struct& definition, const CapabilityCatalog* catalog,
    const StepLimits& limits) {
  if (absl::Status version = CheckSchemaVersion(definition); !version.ok()) return version;

  std::string json;
  if (!google::protobuf::util::MessageToJsonString(definition, &json).ok()) {
    return Invalid("definition", "is not a JSON object");
  }
  PipelineDefinitionV1 parsed;
  google::protobuf::util::JsonParseOptions strict;
  strict.ignore_unknown_fields = false;
  if (auto status = google::protobuf::util::JsonStringToMessage(json, &parsed, strict);
      !status.ok()) {
    return Invalid("definition", status.message().as_string());
  }

  if (parsed.steps_size() < 1 || parsed.steps_size() > kMaxSteps) {
    return Invalid("steps", absl::StrCat(parsed.steps_size(), " steps, must be 1..", kMaxSteps));
  }
  absl::flat_hash_set<std::string> all;
  for (const PipelineStep& step : parsed.steps()) all.insert(step.id());
  absl::flat_hash_set<std::string> earlier;
  for (int i = 0; i < parsed.steps_size(); ++i) {
    PipelineStep& step = *parsed.mutable_steps(i);
    const std::string where = absl::StrCat("steps[", i, "]");
    if (!IsStepId(step.id())) {
      return Invalid(where + ".id", absl::StrCat("'", step.id().substr(0, 64),
                                                 "' must be a letter then up to 63 letters, "
                                                 "digits, '_' or '-'"));
    }
    if (earlier.contains(step.id())) {
      return Invalid(where + ".id", absl::StrCat("'", step.id(), "' is used by an earlier step"));
    }
    switch (step.kind_case()) {
      case PipelineStep::kLlm: {
        const spine::v1::LlmStep& llm = step.llm();
        if (llm.model().empty()) return Invalid(where + ".llm.model", "must be given");
        if (llm.prompt().empty()) return Invalid(where + ".llm.prompt", "must be given");
        if (catalog != nullptr && !catalog->HasModel(llm.model())) {
          return Invalid(where + ".llm.model",
                         absl::StrCat("no executor serves model '", llm.model().substr(0, 64), "'"),
                         "UNKNOWN_MODEL");
        }
        if (llm.has_max_tokens()) {
          SPINE_RETURN_IF_ERROR(CheckRange(where + ".llm.maxTokens", llm.max_tokens(), 1, 32768));
        }
        if (llm.has_temperature() && !(llm.temperature() >= 0 && llm.temperature() <= 2)) {
          return Invalid(where + ".llm.temperature",
                         absl::StrCat(llm.temperature(), ", must be 0..2"));
        }
        SPINE_RETURN_IF_ERROR(
            CheckReferences(where + ".llm.prompt", FindTemplates(llm.prompt()), earlier, all));
        SPINE_RETURN_IF_ERROR(
            CheckReferences(where + ".llm.system", FindTemplates(llm.system()), earlier, all));
        break;
      }
      case PipelineStep::kPlugin: {
        const spine::v1::PluginStep& plugin = step.plugin();
        if (plugin.name().empty()) return Invalid(where + ".plugin.name", "must be given");
        if (catalog != nullptr && !catalog->HasPlugin(plugin.name())) {
          return Invalid(where + ".plugin.name",
                         absl::StrCat("no executor has plugin '", plugin.name().substr(0, 64), "'"),
                         "UNKNOWN_PLUGIN");
        }
        SPINE_RETURN_IF_ERROR(
            CheckReferences(where + ".plugin.input", FindTemplates(plugin.input()), earlier, all));
        break;
      }
      case PipelineStep::KIND_NOT_SET:
        return Invalid(where, "needs exactly one of llm or plugin");
    }
    SPINE_RETURN_IF_ERROR(FillPolicy(where, step, limits));
    earlier.insert(step.id());
  }
  if (parsed.has_output()) {
    SPINE_RETURN_IF_ERROR(CheckReferences("output", FindTemplates(parsed.output()), earlier, all));
  }
  return parsed;
}

}  // namespace spine::tasks
