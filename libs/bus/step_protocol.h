// The step protocol between spine-tasks and the executors (spine-llm, spine-plugins): the queue
// each kind of step travels on and which service executes it. One home, so the engine, its
// dispatcher and StepWorker cannot disagree. The queues' permissions are declared on tasks.proto's
// EventBus (bus_queue) and must name the same queues.
#pragma once

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace spine::bus {

// Results of every kind, answering the job deliveries (a replies-only queue).
inline constexpr char kStepResultsQueue[] = "steps.results";
// What executors can run (ExecutorAdvertisement).
inline constexpr char kExecutorAdvertiseQueue[] = "executors.advertise";

// Step kinds, as StepWorkerOptions::kind and ExecutorAdvertisement::kind name them.
inline constexpr char kLlmStepKind[] = "llm";
inline constexpr char kPluginStepKind[] = "plugin";

// The queue of `kind`'s jobs: "steps.llm", "steps.plugin".
inline std::string StepQueue(absl::string_view kind) { return absl::StrCat("steps.", kind); }
// The queue that asks `kind`'s executors to stop a job.
inline std::string StepCancelQueue(absl::string_view kind) {
  return absl::StrCat("steps.", kind, ".cancel");
}

// The token subject of the service that executes `kind` ("" for an unknown kind): the only
// publisher whose results and advertisements of that kind spine-tasks believes.
inline std::string ExecutorServiceOf(absl::string_view kind) {
  if (kind == kLlmStepKind) return "llm";
  if (kind == kPluginStepKind) return "plugins";
  return "";
}

}  // namespace spine::bus
