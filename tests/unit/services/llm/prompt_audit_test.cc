// PromptAudit: the text of prompt and reply is in the event only in full mode; failures carry the
// code and reason; limit refusals are "denied".
#include "services/llm/prompt_audit.h"

#include <catch2/catch.hpp>

#include "libs/rpc/error_info.h"
#include "tests/unit/services/llm/fake_audit_sink.h"

namespace spine::llm {
namespace {

const std::vector<ChatMessage> kMessages = {{"system", "be brief"}, {"user", "hi"}};
const AuditContext kContext{
    .action = "llm.generate", .user_id = "3", .model = "stub", .request_id = "r1"};

JobResult Finished(const std::string& text) {
  JobResult result;
  result.result = GenerateResult{.text = text, .finish_reason = "stop"};
  result.ran = true;
  result.queue_wait = absl::Milliseconds(12);
  result.run_duration = absl::Milliseconds(34);
  return result;
}

TEST_CASE("full mode keeps the prompt messages and the reply") {
  FakeAuditSink sink;
  const PromptAudit audit(sink, /*include_text=*/true);
  audit.RecordEnd(kContext, audit.Summarize(kMessages), Finished("hello"));
  const auto events = sink.events();
  REQUIRE(events.size() == 1);
  const auto& fields = events[0].details().fields();
  const auto& prompt = fields.at("prompt").list_value();
  REQUIRE(prompt.values_size() == 2);
  CHECK(prompt.values(0).struct_value().fields().at("role").string_value() == "system");
  CHECK(prompt.values(1).struct_value().fields().at("content").string_value() == "hi");
  CHECK(fields.at("reply").string_value() == "hello");
  CHECK(fields.at("queueWaitMs").number_value() == 12);
  CHECK(fields.at("durationMs").number_value() == 34);
  CHECK(events[0].request_id() == "r1");
}

TEST_CASE("the backend's own durations are audited when it reports them") {
  FakeAuditSink sink;
  const PromptAudit audit(sink, /*include_text=*/false);
  JobResult result = Finished("hello");
  result.result->backend_total = absl::Milliseconds(1500);
  result.result->backend_load = absl::Milliseconds(900);
  audit.RecordEnd(kContext, audit.Summarize(kMessages), result);
  audit.RecordEnd(kContext, audit.Summarize(kMessages), Finished("stub"));
  const auto events = sink.events();
  REQUIRE(events.size() == 2);
  CHECK(events[0].details().fields().at("backendTotalMs").number_value() == 1500);
  CHECK(events[0].details().fields().at("backendLoadMs").number_value() == 900);
  CHECK(!events[1].details().fields().contains("backendTotalMs"));
}

TEST_CASE("metadata mode keeps neither text") {
  FakeAuditSink sink;
  const PromptAudit audit(sink, /*include_text=*/false);
  audit.RecordEnd(kContext, audit.Summarize(kMessages), Finished("hello"));
  const auto events = sink.events();
  REQUIRE(events.size() == 1);
  const auto& fields = events[0].details().fields();
  CHECK(!fields.contains("prompt"));
  CHECK(!fields.contains("reply"));
  CHECK(fields.at("replyChars").number_value() == 5);
}

TEST_CASE("a refusal over a limit is denied; other failures are errors with code and reason") {
  FakeAuditSink sink;
  const PromptAudit audit(sink, /*include_text=*/false);
  audit.RecordRefused(kContext, audit.Summarize(kMessages),
                      rpc::WithErrorInfo(absl::ResourceExhaustedError("busy"), "QUEUE_FULL"));
  JobResult failed;
  failed.result = absl::UnavailableError("backend down");
  audit.RecordEnd(kContext, audit.Summarize(kMessages), failed);
  const auto events = sink.events();
  REQUIRE(events.size() == 2);
  CHECK(events[0].outcome() == "denied");
  CHECK(events[0].details().fields().at("reason").string_value() == "QUEUE_FULL");
  CHECK(events[0].details().fields().at("code").string_value() == "RESOURCE_EXHAUSTED");
  CHECK(events[1].outcome() == "error");
  CHECK(events[1].details().fields().at("code").string_value() == "UNAVAILABLE");
  CHECK(!events[1].details().fields().contains("reason"));
}

}  // namespace
}  // namespace spine::llm
