#include "libs/bus/step_protocol.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/time_util.h"
#include "libs/rpc/error_info.h"

namespace spine::bus {
namespace {

using google::protobuf::util::TimeUtil;

template <typename Message>
absl::StatusOr<Message> Parse(const std::string& payload, absl::string_view name) {
  Message message;
  if (!message.ParseFromString(payload)) {
    return absl::InvalidArgumentError(absl::StrCat("not a ", name));
  }
  return message;
}

}  // namespace

const char* StepKindOf(const spine::v1::PipelineStep& step) {
  return step.has_llm() ? kLlmStepKind : kPluginStepKind;
}

std::string StepQueue(absl::string_view kind) { return absl::StrCat("steps.", kind); }

std::string StepCancelQueue(absl::string_view kind) {
  return absl::StrCat("steps.", kind, ".cancel");
}

std::string ExecutorServiceOf(absl::string_view kind) {
  if (kind == kLlmStepKind) return "llm";
  if (kind == kPluginStepKind) return "plugins";
  return "";
}

StepMessage JobMessage(absl::string_view kind, const spine::v1::StepJob& job) {
  return {.queue = StepQueue(kind), .id = job.job_id(), .payload = job.SerializeAsString()};
}

StepMessage CancelMessage(absl::string_view kind, const std::string& job_id) {
  spine::v1::StepCancel cancel;
  cancel.set_job_id(job_id);
  return {.queue = StepCancelQueue(kind),
          .id = absl::StrCat(job_id, "/cancel"),
          .payload = cancel.SerializeAsString()};
}

absl::StatusOr<spine::v1::StepJob> ParseStepJob(const std::string& payload) {
  return Parse<spine::v1::StepJob>(payload, "StepJob");
}

absl::StatusOr<spine::v1::StepCancel> ParseStepCancel(const std::string& payload) {
  return Parse<spine::v1::StepCancel>(payload, "StepCancel");
}

absl::StatusOr<spine::v1::StepResult> ParseStepResult(const std::string& payload) {
  return Parse<spine::v1::StepResult>(payload, "StepResult");
}

absl::StatusOr<spine::v1::ExecutorAdvertisement> ParseAdvertisement(const std::string& payload) {
  return Parse<spine::v1::ExecutorAdvertisement>(payload, "ExecutorAdvertisement");
}

spine::v1::RunError StepErrorOf(const absl::Status& status) {
  spine::v1::RunError error;
  error.set_code(absl::StatusCodeToString(status.code()));
  error.set_message(std::string(status.message()));
  if (auto info = rpc::GetErrorInfo(status)) {
    error.set_reason(info->reason());
    if (auto logs = info->metadata().find("logs"); logs != info->metadata().end()) {
      for (absl::string_view line : absl::StrSplit(logs->second, '\n')) {
        error.add_logs(std::string(line));
      }
    }
  }
  return error;
}

absl::Time StepDeadlineOf(const spine::v1::StepJob& job) {
  if (!job.has_deadline()) return absl::InfiniteFuture();
  return absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(job.deadline()));
}

void SetStepDeadline(spine::v1::StepJob& job, absl::Time deadline) {
  *job.mutable_deadline() = TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(deadline));
}

}  // namespace spine::bus
