// ConversationAccess: spine-llm's conversations, per user — model, title, system prompt and state
// rules, newest-first pages, and appends that only land while the conversation is in the state
// the caller expects (so two replies cannot interleave).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/core/clock.h"
#include "services/storage/conversation.h"
#include "services/storage/page_token.h"
#include "services/storage/storage_adapter.h"

namespace spine::storage {

struct ConversationPage {
  std::vector<Conversation> conversations;  // without messages
  std::string next_page_token;
};

class ConversationAccess {
 public:
  ConversationAccess(StorageAdapter& adapter, const PageTokenCodec& page_tokens, const Clock& clock)
      : adapter_(adapter), page_tokens_(page_tokens), clock_(clock) {}

  // Ids > 0. Model 1..128 characters, title at most 256, system prompt at most 1 MiB, state
  // 1..32 of [a-z_]. A new conversation starts empty.
  absl::StatusOr<Conversation> CreateConversation(int64_t user_id, const std::string& model,
                                                  const std::string& title,
                                                  const std::string& system,
                                                  const std::string& state);
  absl::StatusOr<Conversation> GetConversation(int64_t user_id, int64_t id, bool with_messages);
  absl::StatusOr<ConversationPage> ListConversations(int64_t user_id, int page_size,
                                                     const std::string& page_token);
  // 1..16 messages (or none, to change the state only), role system/user/assistant, content at
  // most 1 MiB; messages without a time get the clock's now. ABORTED if the state moved on
  // (see StorageAdapter).
  absl::StatusOr<Conversation> AppendConversationMessages(int64_t user_id, int64_t id,
                                                          ConversationAppend append);
  absl::Status DeleteConversation(int64_t user_id, int64_t id);

 private:
  StorageAdapter& adapter_;
  const PageTokenCodec& page_tokens_;
  const Clock& clock_;
};

}  // namespace spine::storage
