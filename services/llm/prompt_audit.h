// PromptAudit: the audit trail of spine-llm — one event per prompt, written when its generation
// ends or is refused (issue 7: "every prompt and reply is audited"). The event names the user
// (actor), the action ("llm.generate", "llm.stream", "llm.conversation.reply"), the model
// (target "model:<name>") and the outcome ("ok", "denied" when a limit refused it, "error"), and
// its details carry the sizes, token counts, queue wait, duration, and the gRPC code and reason of
// a failure. The prompt and reply text are included only when `include_text` is set
// (SPINE_AUDIT_PROMPTS=full). Thread-safe; the sink must outlive it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "libs/audit/audit_sink.h"
#include "services/llm/backends/backend.h"
#include "services/llm/runner_pool.h"

namespace spine::llm {

// Who asked for a generation, and through what.
struct AuditContext {
  std::string action{};  // e.g. "llm.generate"
  std::string user_id{};
  std::string model{};
  std::string request_id{};
};

// What the audit keeps of a prompt, taken before the prompt is handed to the pool.
struct PromptSummary {
  int64_t prompt_chars = 0;  // every message but the system prompt, in characters
  int64_t system_chars = 0;
  int messages = 0;
  std::optional<std::vector<ChatMessage>> text{};  // only when the text is audited
};

class PromptAudit {
 public:
  PromptAudit(audit::AuditSink& sink, bool include_text)
      : sink_(sink), include_text_(include_text) {}

  PromptSummary Summarize(const std::vector<ChatMessage>& messages) const;
  // A generation that reached the pool ended (any way, including never running).
  void RecordEnd(const AuditContext& context, const PromptSummary& prompt,
                 const JobResult& result) const;
  // A request refused before it reached the pool: invalid, over a limit, or the queue was full.
  void RecordRefused(const AuditContext& context, const PromptSummary& prompt,
                     const absl::Status& status) const;

 private:
  audit::AuditSink& sink_;
  const bool include_text_;
};

}  // namespace spine::llm
