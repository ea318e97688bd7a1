#include "services/llm/generation_admission.h"

#include <memory>
#include <string>
#include <utility>

namespace spine::llm {

absl::StatusOr<JobHandle> GenerationAdmission::Submit(JobRequest job, AuditContext context) {
  context.user_id = job.user_id;
  context.model = job.model;
  // Shared: the refusal below needs it after the job (and its on_done) have moved into the pool.
  auto prompt = std::make_shared<const PromptSummary>(audit_.Summarize(job.params.messages));
  if (absl::Status limited = limits_.Acquire(job.user_id); !limited.ok()) {
    audit_.RecordRefused(context, *prompt, limited);
    return limited;
  }
  job.on_done = [this, context, prompt, on_done = std::move(job.on_done)](JobResult result) {
    limits_.Release(context.user_id);
    audit_.RecordEnd(context, *prompt, result);
    on_done(std::move(result));
  };
  absl::StatusOr<JobHandle> handle = pool_.Submit(std::move(job));
  if (!handle.ok()) {
    // The pool never runs on_done for a job it refuses.
    limits_.Release(context.user_id);
    audit_.RecordRefused(context, *prompt, handle.status());
  }
  return handle;
}

}  // namespace spine::llm
