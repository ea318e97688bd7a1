#include "services/tasks/engine/broker_step_dispatcher.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/bus/step_protocol.h"
#include "libs/core/log.h"

namespace spine::tasks {
namespace {

const char* KindOf(const spine::v1::StepJob& job) {
  return job.has_llm() ? bus::kLlmStepKind : bus::kPluginStepKind;
}

// In process, the engine publishes as the service that hosts it.
constexpr char kPublisher[] = "tasks";

}  // namespace

absl::Status BrokerStepDispatcher::Dispatch(const spine::v1::StepJob& job) {
  std::vector<bus::Message> messages(1);
  messages[0].id = job.job_id();
  messages[0].payload = job.SerializeAsString();
  return broker_.Publish(bus::StepQueue(KindOf(job)), std::move(messages), kPublisher).status();
}

void BrokerStepDispatcher::Cancel(const spine::v1::StepJob& job) {
  spine::v1::StepCancel cancel;
  cancel.set_job_id(job.job_id());
  std::vector<bus::Message> messages(1);
  messages[0].id = absl::StrCat(job.job_id(), "/cancel");
  messages[0].payload = cancel.SerializeAsString();
  const absl::Status sent =
      broker_.Publish(bus::StepCancelQueue(KindOf(job)), std::move(messages), kPublisher).status();
  if (!sent.ok()) {
    log::Warn("step cancel not sent",
              {{"job", job.job_id()}, {"error", std::string(sent.message())}});
  }
}

}  // namespace spine::tasks
