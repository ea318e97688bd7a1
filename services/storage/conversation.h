// Domain types of conversations: spine-llm keeps each conversation's history here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "services/storage/page_token.h"

namespace spine::storage {

struct ConversationMessage {
  std::string role{};  // "system", "user" or "assistant"
  std::string content{};
  int64_t create_micros = 0;

  bool operator==(const ConversationMessage&) const = default;
};

struct Conversation {
  int64_t id = 0;
  int64_t user_id = 0;
  std::string model{};
  std::string title{};
  std::string system{};
  // spine-llm's own marker (e.g. "idle", "generating"), compared on append so two writers
  // cannot interleave their turns.
  std::string state{};
  std::vector<ConversationMessage> messages{};  // oldest first; empty when not asked for
  int64_t create_micros = 0;

  bool operator==(const Conversation&) const = default;
};

// One page of a user's conversations or pipelines, newest first (create_micros DESC, id DESC).
struct OwnedPageQuery {
  int64_t user_id = 0;
  std::optional<PageCursor> after{};
  int limit = 50;
};

// Messages appended in one transaction, if the conversation is still in `expect_state`.
struct ConversationAppend {
  std::string expect_state{};
  std::string new_state{};
  std::vector<ConversationMessage> messages{};
};

}  // namespace spine::storage
