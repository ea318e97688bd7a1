// PoolReplyGenerator: the conversation orchestrator's ReplyGenerator, running each reply as a
// job of the RunnerPool (so conversation replies queue fairly with every other prompt).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "services/llm/conversation_orchestrator.h"
#include "services/llm/runner_pool.h"

namespace spine::llm {

class PoolReplyGenerator final : public ReplyGenerator {
 public:
  explicit PoolReplyGenerator(RunnerPool& pool) : pool_(pool) {}

  absl::StatusOr<Cancel> Generate(
      const std::string& model, int64_t user_id, std::vector<ChatMessage> context,
      absl::Time deadline, std::function<void(absl::StatusOr<GenerateResult>)> done) override {
    JobRequest job{.model = model, .user_id = std::to_string(user_id)};
    job.params.messages = std::move(context);
    job.params.deadline = deadline;
    job.on_done = [done = std::move(done)](JobResult result) { done(std::move(result.result)); };
    absl::StatusOr<JobHandle> handle = pool_.Submit(std::move(job));
    if (!handle.ok()) return handle.status();
    return Cancel([handle = *handle] { handle.Cancel(); });
  }

 private:
  RunnerPool& pool_;
};

}  // namespace spine::llm
