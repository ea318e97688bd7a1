// ConversationOrchestrator: the conversation state machine of spine-llm and nothing else.
//
//   idle --SendMessage: user message appended--> replying --reply appended--> idle
//                                                replying --reply failed-----> idle (no message)
//
// A message sent while a reply is pending is ABORTED naming the state.
//
// Recovery: a conversation left "replying" by a process that died mid-reply would otherwise
// refuse every message forever. The orchestrator remembers which conversations it is replying
// to itself; a stored "replying" that is not among them is stale, so it is returned to idle and
// the message proceeds. This assumes one spine-llm per storage (as deployed): a second instance
// replying to the same conversation would look stale to this one.
//
// The context a reply is
// generated from is the system prompt plus the newest messages that fit the model's context
// length (oldest dropped first; the system prompt always kept). History lives in the
// ConversationStore (spine-storage); generation is the ReplyGenerator's (the runner pool).
// Thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/core/clock.h"
#include "libs/core/worker_pool.h"
#include "services/llm/backends/backend.h"
#include "services/llm/conversation_store.h"

namespace spine::llm {

inline constexpr char kStateIdle[] = "idle";
inline constexpr char kStateReplying[] = "replying";

// Produces one reply (the runner pool, in production). `done` runs once, on any thread.
class ReplyGenerator {
 public:
  virtual ~ReplyGenerator() = default;
  // Cancels the generation it belongs to; safe after completion.
  using Cancel = std::function<void()>;
  // `request_id` ties the generation's audit event and logs to the request that asked for it.
  virtual absl::StatusOr<Cancel> Generate(
      const std::string& model, int64_t user_id, const std::string& request_id,
      std::vector<ChatMessage> context, absl::Time deadline,
      std::function<void(absl::StatusOr<GenerateResult>)> done) = 0;
};

struct SendResult {
  StoredMessage reply{};
  StoredConversation conversation{};  // with every message
};

class ConversationOrchestrator {
 public:
  // `context_chars`: each known model's context length in characters. `store_pool` runs the
  // store writes that follow a reply, off the generator's threads. All must outlive this.
  ConversationOrchestrator(ConversationStore& store, ReplyGenerator& generator,
                           absl::flat_hash_map<std::string, int64_t> context_chars,
                           WorkerPool& store_pool)
      : store_(store),
        generator_(generator),
        context_chars_(std::move(context_chars)),
        store_pool_(store_pool) {}

  // NOT_FOUND (reason MODEL_NOT_FOUND) for an unknown model.
  absl::StatusOr<StoredConversation> Create(int64_t user_id, const std::string& model,
                                            const std::string& title, const std::string& system);

  // Appends the user's message, generates the reply and appends it; `done` runs once with the
  // reply and the whole conversation. A reply that fails (or is cancelled through the returned
  // function, e.g. the client left) returns the conversation to idle without a message.
  absl::StatusOr<ReplyGenerator::Cancel> SendMessage(
      int64_t user_id, int64_t id, const std::string& content, absl::Time deadline,
      const std::string& request_id, const std::function<void(absl::StatusOr<SendResult>)>& done);

  // The context for `conversation`'s next reply, trimmed to `context_chars` (exposed for tests).
  static std::vector<ChatMessage> BuildContext(const StoredConversation& conversation,
                                               int64_t context_chars);

 private:
  void FinishReply(int64_t user_id, int64_t id, absl::StatusOr<GenerateResult> result,
                   const std::function<void(absl::StatusOr<SendResult>)>& done);
  // Appends the user's message, moving idle to replying; a stale "replying" is reset first.
  absl::StatusOr<StoredConversation> BeginReply(int64_t user_id, int64_t id,
                                                const std::string& content);
  // Marks `id` as being replied to by this process; false if it already is.
  bool Claim(int64_t id);
  void Unclaim(int64_t id);

  ConversationStore& store_;
  ReplyGenerator& generator_;
  const absl::flat_hash_map<std::string, int64_t> context_chars_;
  WorkerPool& store_pool_;
  absl::Mutex mu_;
  absl::flat_hash_set<int64_t> replying_ ABSL_GUARDED_BY(mu_);  // conversations this process
                                                                // is replying to
};

}  // namespace spine::llm
