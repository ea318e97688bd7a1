#include "services/llm/conversation_orchestrator.h"

#include "absl/strings/str_cat.h"
#include "libs/core/log.h"
#include "libs/core/status.h"
#include "libs/rpc/error_info.h"

namespace spine::llm {

absl::StatusOr<StoredConversation> ConversationOrchestrator::Create(int64_t user_id,
                                                                    const std::string& model,
                                                                    const std::string& title,
                                                                    const std::string& system) {
  if (!context_chars_.contains(model)) {
    return rpc::WithErrorInfo(
        absl::NotFoundError(absl::StrCat("model '", model.substr(0, 64), "' not found")),
        "MODEL_NOT_FOUND");
  }
  return store_.Create(user_id, model, title, system);
}

std::vector<ChatMessage> ConversationOrchestrator::BuildContext(
    const StoredConversation& conversation, int64_t context_chars) {
  std::vector<ChatMessage> context;
  int64_t budget = context_chars - static_cast<int64_t>(conversation.system.size());
  // Newest first until the budget runs out, then back into order. The newest message (the
  // user's question) is always kept, even alone over budget: the backend truncates then.
  std::vector<const StoredMessage*> kept;
  for (auto it = conversation.messages.rbegin(); it != conversation.messages.rend(); ++it) {
    const auto size = static_cast<int64_t>(it->content.size());
    if (!kept.empty() && size > budget) break;
    budget -= size;
    kept.push_back(&*it);
  }
  if (!conversation.system.empty()) context.push_back({"system", conversation.system});
  for (auto it = kept.rbegin(); it != kept.rend(); ++it) {
    context.push_back({(*it)->role, (*it)->content});
  }
  return context;
}

absl::StatusOr<ReplyGenerator::Cancel> ConversationOrchestrator::SendMessage(
    int64_t user_id, int64_t id, const std::string& content, absl::Time deadline,
    const std::string& request_id, const std::function<void(absl::StatusOr<SendResult>)>& done) {
  if (content.empty()) return absl::InvalidArgumentError("content: must not be empty");
  absl::StatusOr<StoredConversation> conversation = BeginReply(user_id, id, content);
  if (!conversation.ok()) return conversation.status();
  auto limit = context_chars_.find(conversation->model);
  if (limit == context_chars_.end()) {
    // The model left the configuration since the conversation began.
    FinishReply(user_id, id,
                rpc::WithErrorInfo(absl::NotFoundError(absl::StrCat("model '", conversation->model,
                                                                    "' is not configured")),
                                   "MODEL_NOT_FOUND"),
                done);
    return ReplyGenerator::Cancel([] {});
  }
  absl::StatusOr<ReplyGenerator::Cancel> cancel = generator_.Generate(
      conversation->model, user_id, request_id, BuildContext(*conversation, limit->second),
      deadline, [this, user_id, id, done](absl::StatusOr<GenerateResult> result) {
        // The store write blocks; the generator's thread must not.
        const absl::Status queued =
            store_pool_.Submit([this, user_id, id, done, result = std::move(result)]() mutable {
              FinishReply(user_id, id, std::move(result), done);
            });
        if (!queued.ok()) FinishReply(user_id, id, queued, done);
      });
  if (!cancel.ok()) {
    // Refused before it started (queue full, unknown model): back to idle, and say why.
    (void)store_.Append(user_id, id, kStateReplying, kStateIdle, {});
    Unclaim(id);
    return cancel.status();
  }
  return cancel;
}

absl::StatusOr<StoredConversation> ConversationOrchestrator::BeginReply(
    int64_t user_id, int64_t id, const std::string& content) {
  const absl::Status busy = rpc::WithErrorInfo(
      absl::AbortedError(absl::StrCat("conversation ", id,
                                      " is waiting for a reply; send the next message after it")),
      "CONVERSATION_BUSY");
  if (!Claim(id)) return busy;
  // The store checks the state atomically with the append, so two processes (or a stale state)
  // cannot both start a reply.
  absl::StatusOr<StoredConversation> conversation = store_.Append(
      user_id, id, kStateIdle, kStateReplying, {{.role = "user", .content = content}});
  if (conversation.status().code() == absl::StatusCode::kAborted) {
    // Not idle, yet this process is not replying to it: a reply died with an earlier process.
    absl::StatusOr<StoredConversation> reset =
        store_.Append(user_id, id, kStateReplying, kStateIdle, {});
    if (reset.ok()) {
      log::Warn("conversation left replying by an earlier process; returned to idle",
                {{"conversation", absl::StrCat(id)}});
      conversation = store_.Append(user_id, id, kStateIdle, kStateReplying,
                                   {{.role = "user", .content = content}});
    }
  }
  if (!conversation.ok()) {
    Unclaim(id);
    if (conversation.status().code() == absl::StatusCode::kAborted) return busy;
    return conversation.status();
  }
  return conversation;
}

bool ConversationOrchestrator::Claim(int64_t id) {
  absl::MutexLock lock(&mu_);
  return replying_.insert(id).second;
}

void ConversationOrchestrator::Unclaim(int64_t id) {
  absl::MutexLock lock(&mu_);
  replying_.erase(id);
}

void ConversationOrchestrator::FinishReply(
    int64_t user_id, int64_t id, absl::StatusOr<GenerateResult> result,
    const std::function<void(absl::StatusOr<SendResult>)>& done) {
  if (!result.ok()) {
    (void)store_.Append(user_id, id, kStateReplying, kStateIdle, {});
    Unclaim(id);
    return done(result.status());
  }
  StoredMessage reply{.role = "assistant", .content = result->text};
  absl::StatusOr<StoredConversation> conversation =
      store_.Append(user_id, id, kStateReplying, kStateIdle, {reply});
  Unclaim(id);
  if (!conversation.ok()) return done(conversation.status());
  if (!conversation->messages.empty()) reply = conversation->messages.back();
  done(SendResult{.reply = std::move(reply), .conversation = *std::move(conversation)});
}

}  // namespace spine::llm
