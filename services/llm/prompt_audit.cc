#include "services/llm/prompt_audit.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "libs/core/utf8.h"
#include "libs/rpc/error_info.h"

namespace spine::llm {
namespace {

using google::protobuf::Struct;

int64_t Chars(const std::string& text) { return static_cast<int64_t>(CheckUtf8(text).code_points); }

void SetNumber(Struct& details, const char* key, double value) {
  (*details.mutable_fields())[key].set_number_value(value);
}

void SetString(Struct& details, const char* key, const std::string& value) {
  (*details.mutable_fields())[key].set_string_value(value);
}

spine::v1::AuditEvent NewEvent(const AuditContext& context, const PromptSummary& prompt) {
  spine::v1::AuditEvent event;
  event.set_actor(context.user_id);
  event.set_action(context.action);
  event.set_target(absl::StrCat("model:", context.model));
  event.set_request_id(context.request_id);
  Struct& details = *event.mutable_details();
  SetNumber(details, "promptChars", static_cast<double>(prompt.prompt_chars));
  SetNumber(details, "systemChars", static_cast<double>(prompt.system_chars));
  SetNumber(details, "messages", prompt.messages);
  if (prompt.text) {
    google::protobuf::ListValue& messages =
        *(*details.mutable_fields())["prompt"].mutable_list_value();
    for (const ChatMessage& message : *prompt.text) {
      Struct& entry = *messages.add_values()->mutable_struct_value();
      SetString(entry, "role", message.role);
      SetString(entry, "content", message.content);
    }
  }
  return event;
}

void SetFailure(Struct& details, const absl::Status& status) {
  SetString(details, "code", absl::StatusCodeToString(status.code()));
  if (auto info = rpc::GetErrorInfo(status)) SetString(details, "reason", info->reason());
}

}  // namespace

PromptSummary PromptAudit::Summarize(const std::vector<ChatMessage>& messages) const {
  PromptSummary summary;
  summary.messages = static_cast<int>(messages.size());
  for (const ChatMessage& message : messages) {
    (message.role == "system" ? summary.system_chars : summary.prompt_chars) +=
        Chars(message.content);
  }
  if (include_text_) summary.text = messages;
  return summary;
}

void PromptAudit::RecordEnd(const AuditContext& context, const PromptSummary& prompt,
                            const JobResult& result) const {
  spine::v1::AuditEvent event = NewEvent(context, prompt);
  Struct& details = *event.mutable_details();
  SetNumber(details, "queueWaitMs",
            static_cast<double>(absl::ToInt64Milliseconds(result.queue_wait)));
  SetNumber(details, "durationMs",
            static_cast<double>(absl::ToInt64Milliseconds(result.run_duration)));
  (*details.mutable_fields())["ran"].set_bool_value(result.ran);
  if (result.result.ok()) {
    event.set_outcome("ok");
    SetNumber(details, "replyChars", static_cast<double>(Chars(result.result->text)));
    SetNumber(details, "promptTokens", result.result->prompt_tokens);
    SetNumber(details, "completionTokens", result.result->completion_tokens);
    SetString(details, "finishReason", result.result->finish_reason);
    if (result.result->backend_total > absl::ZeroDuration()) {
      SetNumber(details, "backendTotalMs",
                absl::ToDoubleMilliseconds(result.result->backend_total));
      SetNumber(details, "backendLoadMs", absl::ToDoubleMilliseconds(result.result->backend_load));
    }
    if (include_text_) SetString(details, "reply", result.result->text);
  } else {
    event.set_outcome("error");
    SetFailure(details, result.result.status());
  }
  sink_.Record(std::move(event));
}

void PromptAudit::RecordRefused(const AuditContext& context, const PromptSummary& prompt,
                                const absl::Status& status) const {
  spine::v1::AuditEvent event = NewEvent(context, prompt);
  event.set_outcome(status.code() == absl::StatusCode::kResourceExhausted ? "denied" : "error");
  SetFailure(*event.mutable_details(), status);
  sink_.Record(std::move(event));
}

}  // namespace spine::llm
