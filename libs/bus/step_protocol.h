// The step protocol between spine-tasks and the executors (spine-llm, spine-plugins): the queue
// each kind of step travels on, which service executes it, the messages that carry a job and its
// cancel, and how errors and deadlines ride in them. One home, so the engine, its dispatcher,
// spine-tasks' consumers and StepWorker cannot disagree. The queues' permissions are declared on
// tasks.proto's EventBus (bus_queue) and must name the same queues.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "spine/v1/tasks.pb.h"

namespace spine::bus {

// Results of every kind, answering the job deliveries (a replies-only queue).
inline constexpr char kStepResultsQueue[] = "steps.results";
// What executors can run (ExecutorAdvertisement).
inline constexpr char kExecutorAdvertiseQueue[] = "executors.advertise";

// Step kinds, as StepWorkerOptions::kind and ExecutorAdvertisement::kind name them.
inline constexpr char kLlmStepKind[] = "llm";
inline constexpr char kPluginStepKind[] = "plugin";

// The kind of a pipeline's step, from its definition: a job sent for it, or a cancel of that
// job, travels on this kind's queues whatever the job's body says.
const char* StepKindOf(const spine::v1::PipelineStep& step);

// The queue of `kind`'s jobs: "steps.llm", "steps.plugin".
std::string StepQueue(absl::string_view kind);
// The queue that asks `kind`'s executors to stop a job: "steps.llm.cancel", "steps.plugin.cancel".
std::string StepCancelQueue(absl::string_view kind);

// The token subject of the service that executes `kind` ("" for an unknown kind): the only
// publisher whose results and advertisements of that kind spine-tasks believes.
std::string ExecutorServiceOf(absl::string_view kind);

// A step protocol message as it goes onto the bus.
struct StepMessage {
  std::string queue;
  std::string id;  // the message id: derived from the job's, so one sent again is stored once
  std::string payload;
};
// `job` of a step of `kind`, for its executors.
StepMessage JobMessage(absl::string_view kind, const spine::v1::StepJob& job);
// Asks `kind`'s executors to stop the job `job_id`.
StepMessage CancelMessage(absl::string_view kind, const std::string& job_id);

// Parses what StepWorker receives and spine-tasks' consumers take: INVALID_ARGUMENT for a
// payload that is not the message (nothing can answer it; the bus dead-letters it).
absl::StatusOr<spine::v1::StepJob> ParseStepJob(const std::string& payload);
absl::StatusOr<spine::v1::StepCancel> ParseStepCancel(const std::string& payload);
absl::StatusOr<spine::v1::StepResult> ParseStepResult(const std::string& payload);
absl::StatusOr<spine::v1::ExecutorAdvertisement> ParseAdvertisement(const std::string& payload);

// The RunError a step's error status becomes (its code name, message and ErrorInfo reason, and
// the lines of its ErrorInfo metadata "logs").
spine::v1::RunError StepErrorOf(const absl::Status& status);

// When `job` must be answered by: its deadline, or never if it has none.
absl::Time StepDeadlineOf(const spine::v1::StepJob& job);
// Sets `job`'s deadline to `deadline`.
void SetStepDeadline(spine::v1::StepJob& job, absl::Time deadline);

}  // namespace spine::bus
