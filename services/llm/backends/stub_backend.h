// StubBackend: a model without a network, for tests, benchmarks and the default models file.
//
// The reply is derived from the prompt alone (a hash of the last user message picks 8..24 words
// from a fixed vocabulary), so the same messages always give the same text. The first token comes
// `first_token` after Start and each further one `per_token` later; every token is one delta.
// max_tokens cuts the reply short with finish_reason "length"; the deadline ends it with
// DEADLINE_EXCEEDED, Cancel with CANCELLED (on the next scheduler turn). Token counts are words:
// prompt_tokens counts the whitespace-separated words of every message.
//
// All generations are driven by the one Scheduler (no thread of their own); with zero delays a
// whole reply is produced in one scheduler task. Thread-safe; the Scheduler and Clock must
// outlive every generation.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "libs/core/clock.h"
#include "libs/core/scheduler.h"
#include "services/llm/backends/backend.h"

namespace spine::llm {

struct StubTimings {
  absl::Duration first_token = absl::ZeroDuration();  // from Start to the first token
  absl::Duration per_token = absl::ZeroDuration();    // between tokens
};

class StubBackend final : public Backend {
 public:
  StubBackend(StubTimings timings, Scheduler& scheduler, const Clock& clock);

  std::unique_ptr<Generation> Start(const GenerateParams& params, OnDelta on_delta,
                                    OnDone done) override;

  // The whole reply the stub gives to `messages`, token by token (concatenated: the text).
  static std::vector<std::string> ReplyTokens(const std::vector<ChatMessage>& messages);
  // The prompt_tokens the stub reports for `messages`.
  static int CountPromptTokens(const std::vector<ChatMessage>& messages);

 private:
  const StubTimings timings_;
  Scheduler& scheduler_;
  const Clock& clock_;
};

}  // namespace spine::llm
