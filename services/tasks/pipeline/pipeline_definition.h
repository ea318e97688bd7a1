// Pipeline definitions (API.md "Pipelines and runs"): the strict, versioned parse of the JSON a
// user sends, with every validation rule there, and the defaults a run then relies on.
//
// A definition arrives as a google.protobuf.Struct so that its schemaVersion is read before
// anything else: any version but the supported ones is INVALID_ARGUMENT with reason
// UNSUPPORTED_SCHEMA_VERSION (metadata "supported": "1"). Version 1 is then parsed into
// PipelineDefinitionV1 with protobuf's JSON mapping, unknown fields rejected, and checked:
// 1..16 steps; ids unique and well-formed; exactly one of `llm` or `plugin` per step; templates
// that name `input...` or an earlier step's `steps.<id>.output...` (the pipeline's output may
// name any step); models and plugins that some executor advertises; timeouts and retry values in
// range. Every refusal is INVALID_ARGUMENT whose message begins with the place
// ("steps[1].retry.maxAttempts: ...") and whose ErrorInfo carries it as metadata "field", with
// reason INVALID_PIPELINE, UNKNOWN_MODEL or UNKNOWN_PLUGIN.
//
// The parsed definition has every default filled in (timeoutMs, retry), so a run carries its
// whole policy and does not depend on defaults that may change later.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/struct.pb.h"
#include "spine/v1/tasks.pb.h"

namespace spine::tasks {

// What the executors advertise: the models spine-llm serves and the plugins spine-plugins loads.
// Thread-safe in the real implementation (ExecutorRegistry).
class CapabilityCatalog {
 public:
  virtual ~CapabilityCatalog() = default;
  virtual bool HasModel(absl::string_view name) const = 0;
  virtual bool HasPlugin(absl::string_view name) const = 0;
};

inline constexpr int kMaxSteps = 16;
inline constexpr char kSupportedSchemaVersions[] = "1";

// Bounds and defaults of a step's policy.
struct StepLimits {
  int default_llm_timeout_ms = 60000;
  int max_llm_timeout_ms = 600000;
  int default_plugin_timeout_ms = 5000;
  int max_plugin_timeout_ms = 60000;  // as POST /api/plugins/{name}/invoke
  int default_max_attempts = 3;
  int max_max_attempts = 10;
  int default_initial_backoff_ms = 200;
  int max_initial_backoff_ms = 60000;
  double default_backoff_coefficient = 2.0;
  double max_backoff_coefficient = 10.0;
  int default_max_backoff_ms = 10000;
  int max_max_backoff_ms = 300000;
};

// The checked definition, defaults filled in. `catalog` may be null to skip the model and plugin
// checks (a stored pipeline being run again after its executors went away is checked at run time
// instead, by the executors themselves).
absl::StatusOr<spine::v1::PipelineDefinitionV1> ParsePipelineDefinition(
    const google::protobuf::Struct& definition, const CapabilityCatalog* catalog,
    const StepLimits& limits = {});

}  // namespace spine::tasks
