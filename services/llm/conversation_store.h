// ConversationStore: where the ConversationOrchestrator keeps conversations — spine-storage's
// conversation records, behind an interface so the state machine is tested against a fake.
//
// Every operation is scoped by user. Implementations are thread-safe and block (each call has
// its own deadline).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace spine::llm {

struct StoredMessage {
  std::string role{};  // "system", "user" or "assistant"
  std::string content{};
  int64_t create_micros = 0;  // 0: the store stamps it
};

struct StoredConversation {
  int64_t id = 0;
  int64_t user_id = 0;
  std::string model{};
  std::string title{};
  std::string system{};
  std::string state{};
  std::vector<StoredMessage> messages{};  // oldest first; empty unless asked for
  int64_t create_micros = 0;
};

struct StoredConversationPage {
  std::vector<StoredConversation> conversations{};
  std::string next_page_token{};
};

class ConversationStore {
 public:
  virtual ~ConversationStore() = default;
  // A new conversation in state "idle".
  virtual absl::StatusOr<StoredConversation> Create(int64_t user_id, const std::string& model,
                                                    const std::string& title,
                                                    const std::string& system) = 0;
  // NOT_FOUND (reason CONVERSATION_NOT_FOUND) for another user's or a missing conversation.
  virtual absl::StatusOr<StoredConversation> Get(int64_t user_id, int64_t id,
                                                 bool with_messages) = 0;
  virtual absl::StatusOr<StoredConversationPage> List(int64_t user_id, int page_size,
                                                      const std::string& page_token) = 0;
  // Appends `messages` and moves the state from `expect_state` to `new_state` atomically;
  // ABORTED when the state is not `expect_state`. Returns the conversation with its messages.
  virtual absl::StatusOr<StoredConversation> Append(int64_t user_id, int64_t id,
                                                    const std::string& expect_state,
                                                    const std::string& new_state,
                                                    const std::vector<StoredMessage>& messages) = 0;
  virtual absl::Status Delete(int64_t user_id, int64_t id) = 0;
};

}  // namespace spine::llm
