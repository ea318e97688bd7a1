// PoolReplyGenerator: the conversation orchestrator's ReplyGenerator, running each reply as a
// job of the RunnerPool through GenerationAdmission (so conversation replies queue fairly with
// every other prompt, count against the user's limits and are audited as
// "llm.conversation.reply").
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "services/llm/conversation_orchestrator.h"
#include "services/llm/generation_admission.h"

namespace spine::llm {

class PoolReplyGenerator final : public ReplyGenerator {
 public:
  explicit PoolReplyGenerator(GenerationAdmission& admission) : admission_(admission) {}

  absl::StatusOr<Cancel> Generate(
      const std::string& model, int64_t user_id, const std::string& request_id,
      std::vector<ChatMessage> context, absl::Time deadline,
      std::function<void(absl::StatusOr<GenerateResult>)> done) override {
    JobRequest job{.model = model, .user_id = std::to_string(user_id)};
    job.params.messages = std::move(context);
    job.params.deadline = deadline;
    job.on_done = [done = std::move(done)](JobResult result) { done(std::move(result.result)); };
    absl::StatusOr<JobHandle> handle = admission_.Submit(
        std::move(job), {.action = "llm.conversation.reply", .request_id = request_id});
    if (!handle.ok()) return handle.status();
    return Cancel([handle = *handle] { handle.Cancel(); });
  }

 private:
  GenerationAdmission& admission_;
};

}  // namespace spine::llm
