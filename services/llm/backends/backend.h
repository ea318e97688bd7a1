// Backend: one way of running a model (stub, ollama, openai-compatible). The RunnerPool calls
// Start for a job it has dispatched to a runner; the backend streams text back and ends the
// generation exactly once.
//
// Implementations are thread-safe; callbacks run on the backend's own threads (never inline in
// Start) and must not block.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace spine::llm {

struct ChatMessage {
  std::string role{};  // "system", "user" or "assistant"
  std::string content{};
};

// One generation, already validated by the LlmGateway.
struct GenerateParams {
  std::string backend_model{};          // the model's name at the backend (models file)
  std::vector<ChatMessage> messages{};  // system prompt first when there is one
  int max_tokens = 0;                   // 0: the backend's default
  std::optional<double> temperature{};
  absl::Time deadline = absl::InfiniteFuture();  // the generation fails at this time
};

struct GenerateResult {
  std::string text{};           // the whole reply
  std::string finish_reason{};  // "stop", "length" or "cancelled"
  int prompt_tokens = 0;
  int completion_tokens = 0;
  // What the backend says it spent, where it says so (Ollama): loading the model, and the whole
  // generation. Zero when not reported. Audited beside Spine's own queue wait and duration, so
  // a slow reply can be told apart from a cold model.
  absl::Duration backend_load = absl::ZeroDuration();
  absl::Duration backend_total = absl::ZeroDuration();
};

// A generation in progress.
class Generation {
 public:
  virtual ~Generation() = default;
  // Aborts the generation; `done` then runs with CANCELLED within 100 ms (unless it already
  // ran). Safe to call more than once and after `done`.
  virtual void Cancel() = 0;
};

class Backend {
 public:
  using OnDelta = std::function<void(absl::string_view delta)>;
  using OnDone = std::function<void(absl::StatusOr<GenerateResult>)>;

  virtual ~Backend() = default;

  // Starts a generation: `on_delta` (may be empty) for each piece of text in order, then `done`
  // exactly once with the result or the error (NOT_FOUND for a model the backend does not have,
  // UNAVAILABLE when it cannot be reached or is busy, DEADLINE_EXCEEDED at the deadline,
  // CANCELLED after Cancel, INTERNAL for a malformed answer). The handle may be dropped at any
  // time without cancelling.
  virtual std::unique_ptr<Generation> Start(const GenerateParams& params, OnDelta on_delta,
                                            OnDone done) = 0;
};

}  // namespace spine::llm
