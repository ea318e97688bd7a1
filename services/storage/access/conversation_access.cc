#include "services/storage/access/conversation_access.h"

#include "absl/algorithm/container.h"
#include "absl/strings/str_cat.h"
#include "libs/core/status.h"
#include "services/storage/access/field_checks.h"
#include "services/storage/error_reasons.h"
#include "services/storage/paging.h"

namespace spine::storage {
namespace {

constexpr size_t kMaxModelChars = 128;
constexpr size_t kMaxTitleChars = 256;
constexpr size_t kMaxStateChars = 32;
constexpr size_t kMaxPromptBytes = size_t{1} << 20;
constexpr size_t kMaxMessagesPerAppend = 16;

constexpr char kConversationNotFound[] = "CONVERSATION_NOT_FOUND";

absl::Status CheckConversationState(absl::string_view field, absl::string_view state) {
  const bool ok = !state.empty() && state.size() <= kMaxStateChars &&
                  absl::c_all_of(state, [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; });
  if (!ok) return absl::InvalidArgumentError(absl::StrCat(field, ": must be 1..32 of a-z and _"));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Conversation> ConversationAccess::CreateConversation(int64_t user_id,
                                                                    const std::string& model,
                                                                    const std::string& title,
                                                                    const std::string& system,
                                                                    const std::string& state) {
  SPINE_RETURN_IF_ERROR(CheckOwner(user_id));
  SPINE_RETURN_IF_ERROR(CheckText("model", model, 1, kMaxModelChars, true));
  SPINE_RETURN_IF_ERROR(CheckText("title", title, 0, kMaxTitleChars, true));
  SPINE_RETURN_IF_ERROR(CheckText("system", system, 0, kMaxPromptBytes, false));
  SPINE_RETURN_IF_ERROR(CheckBytes("system", system, kMaxPromptBytes));
  SPINE_RETURN_IF_ERROR(CheckConversationState("state", state));
  return adapter_.InsertConversation(
      Conversation{.user_id = user_id,
                   .model = model,
                   .title = title,
                   .system = system,
                   .state = state,
                   .create_micros = absl::ToUnixMicros(clock_.Now())});
}

absl::StatusOr<Conversation> ConversationAccess::GetConversation(int64_t user_id, int64_t id,
                                                                 bool with_messages) {
  SPINE_RETURN_IF_ERROR(CheckOwner(user_id));
  SPINE_RETURN_IF_ERROR(CheckRecordId("conversation", id));
  return WithNotFoundReason(adapter_.GetConversation(user_id, id, with_messages),
                            kConversationNotFound);
}

absl::StatusOr<ConversationPage> ConversationAccess::ListConversations(
    int64_t user_id, int page_size, const std::string& page_token) {
  SPINE_RETURN_IF_ERROR(CheckOwner(user_id));
  SPINE_ASSIGN_OR_RETURN(const int size, PageSize(page_size));
  SPINE_ASSIGN_OR_RETURN(
      PageOf<Conversation> page,
      ReadPage<Conversation>(
          OwnedPageQuery{.user_id = user_id}, size, page_token, page_tokens_,
          OwnedBinding("conversations", user_id),
          [this](const OwnedPageQuery& q) { return adapter_.ListConversations(q); }));
  return ConversationPage{std::move(page.rows), std::move(page.next_page_token)};
}

absl::StatusOr<Conversation> ConversationAccess::AppendConversationMessages(
    int64_t user_id, int64_t id, ConversationAppend append) {
  SPINE_RETURN_IF_ERROR(CheckOwner(user_id));
  SPINE_RETURN_IF_ERROR(CheckRecordId("conversation", id));
  SPINE_RETURN_IF_ERROR(CheckConversationState("expectState", append.expect_state));
  SPINE_RETURN_IF_ERROR(CheckConversationState("newState", append.new_state));
  // No message is a pure state change (a failed reply returning the conversation to idle).
  const bool state_changes = append.expect_state != append.new_state;
  if ((append.messages.empty() && !state_changes) ||
      append.messages.size() > kMaxMessagesPerAppend) {
    return absl::InvalidArgumentError(absl::StrCat("messages: ", append.messages.size(),
                                                   ", must be 1..", kMaxMessagesPerAppend,
                                                   " (0 only to change the state)"));
  }
  const int64_t now = absl::ToUnixMicros(clock_.Now());
  for (size_t i = 0; i < append.messages.size(); ++i) {
    ConversationMessage& message = append.messages[i];
    const std::string field = absl::StrCat("messages[", i, "]");
    if (message.role != "system" && message.role != "user" && message.role != "assistant") {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".role: must be system, user or assistant"));
    }
    SPINE_RETURN_IF_ERROR(
        CheckText(absl::StrCat(field, ".content"), message.content, 0, kMaxPromptBytes, false));
    SPINE_RETURN_IF_ERROR(
        CheckBytes(absl::StrCat(field, ".content"), message.content, kMaxPromptBytes));
    if (message.create_micros == 0) message.create_micros = now;
  }
  return WithNotFoundReason(adapter_.AppendConversationMessages(user_id, id, append),
                            kConversationNotFound);
}

absl::Status ConversationAccess::DeleteConversation(int64_t user_id, int64_t id) {
  SPINE_RETURN_IF_ERROR(CheckOwner(user_id));
  SPINE_RETURN_IF_ERROR(CheckRecordId("conversation", id));
  return WithNotFoundReason(adapter_.DeleteConversation(user_id, id), kConversationNotFound);
}

}  // namespace spine::storage
