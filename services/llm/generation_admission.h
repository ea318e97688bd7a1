// GenerationAdmission: the one way a generation enters the RunnerPool, shared by LlmService and
// the conversation replies (and the pipeline executor later), so that every entry point applies
// the same per-user limits and writes the same audit event. A request first takes a slot from
// UserLimits, then goes to the pool; when it ends (or either refuses it) the slot is returned and
// the audit event recorded, before the caller's own `on_done`. Thread-safe; everything borrowed
// must outlive it.
#pragma once

#include "absl/status/statusor.h"
#include "services/llm/prompt_audit.h"
#include "services/llm/runner_pool.h"
#include "services/llm/user_limits.h"

namespace spine::llm {

class GenerationAdmission {
 public:
  GenerationAdmission(RunnerPool& pool, UserLimits& limits, const PromptAudit& audit)
      : pool_(pool), limits_(limits), audit_(audit) {}

  // As RunnerPool::Submit, after the user's limits (RESOURCE_EXHAUSTED, USER_CONCURRENCY_LIMIT or
  // USER_RATE_LIMIT). `context.user_id` and `context.model` are taken from `job`.
  absl::StatusOr<JobHandle> Submit(JobRequest job, AuditContext context);

  RunnerPool& pool() { return pool_; }
  const RunnerPool& pool() const { return pool_; }
  const PromptAudit& audit() const { return audit_; }

 private:
  RunnerPool& pool_;
  UserLimits& limits_;
  const PromptAudit& audit_;
};

}  // namespace spine::llm
