// LlmStepRunner: a pipeline's LLM step runs through the same admission as a direct generate, and
// its audit event names the request that started the run.
#include "services/llm/llm_step_runner.h"

#include <catch2/catch.hpp>
#include <optional>
#include <string>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "libs/bus/step_protocol.h"
#include "tests/unit/services/llm/service_test_env.h"

namespace spine::llm {
namespace {

spine::v1::StepJob LlmJob(const std::string& request_id) {
  spine::v1::StepJob job;
  job.set_job_id("42/0/1");
  job.set_run_id(42);
  job.set_user_id(7);
  job.mutable_llm()->set_model("stub");
  job.mutable_llm()->set_prompt("hello");
  job.set_request_id(request_id);
  bus::SetStepDeadline(job, absl::Now() + absl::Seconds(30));
  return job;
}

// Runs `job` to its end and answers the audit event it left.
spine::v1::AuditEvent RunAndAudit(ServiceTestEnv& env, const spine::v1::StepJob& job) {
  LlmStepRunner runner(env.admission(), LlmLimits{});
  absl::Notification finished;
  std::optional<absl::StatusOr<google::protobuf::Value>> outcome;
  auto stop = runner.Start(job, [&](absl::StatusOr<google::protobuf::Value> result) {
    outcome = std::move(result);
    finished.Notify();
  });
  REQUIRE(stop.ok());
  REQUIRE(finished.WaitForNotificationWithTimeout(absl::Seconds(20)));
  REQUIRE(outcome->ok());
  REQUIRE(testing::PollUntil([&] { return !env.audit_sink().events().empty(); }));
  return env.audit_sink().events().back();
}

TEST_CASE("an LLM step's audit event carries the request id of the run", "[llm_step_runner]") {
  ServiceTestEnv env;
  const spine::v1::AuditEvent event = RunAndAudit(env, LlmJob("req-7f3a"));
  CHECK(event.action() == "llm.pipeline_step");
  CHECK(event.request_id() == "req-7f3a");
}

TEST_CASE("an LLM step from a job without a request id is audited under its job id",
          "[llm_step_runner]") {
  ServiceTestEnv env;
  CHECK(RunAndAudit(env, LlmJob("")).request_id() == "42:0:1");
}

}  // namespace
}  // namespace spine::llm
