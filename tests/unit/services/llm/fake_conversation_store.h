// FakeConversationStore: an in-memory ConversationStore for the conversation tests. Scoped by
// user as the real store is (another user's conversation is NOT_FOUND); timestamps come from a
// counter; List returns every conversation of the user in one page, and remembers the page size
// and token it was asked for. Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "services/llm/conversation_store.h"

namespace spine::llm {

class FakeConversationStore final : public ConversationStore {
 public:
  absl::StatusOr<StoredConversation> Create(int64_t user_id, const std::string& model,
                                            const std::string& title,
                                            const std::string& system) override {
    absl::MutexLock lock(&mu_);
    StoredConversation conversation{.id = ++last_id_,
                                    .user_id = user_id,
                                    .model = model,
                                    .title = title,
                                    .system = system,
                                    .state = "idle",
                                    .create_micros = ++clock_};
    rows_[conversation.id] = conversation;
    return conversation;
  }

  absl::StatusOr<StoredConversation> Get(int64_t user_id, int64_t id, bool with_messages) override {
    absl::MutexLock lock(&mu_);
    auto it = rows_.find(id);
    if (it == rows_.end() || it->second.user_id != user_id) return Missing(id);
    StoredConversation copy = it->second;
    if (!with_messages) copy.messages.clear();
    return copy;
  }

  absl::StatusOr<StoredConversationPage> List(int64_t user_id, int page_size,
                                              const std::string& page_token) override {
    absl::MutexLock lock(&mu_);
    last_page_size_ = page_size;
    last_page_token_ = page_token;
    StoredConversationPage page;
    for (const auto& [id, row] : rows_) {
      if (row.user_id != user_id) continue;
      page.conversations.push_back(row);
      page.conversations.back().messages.clear();
    }
    return page;
  }

  absl::StatusOr<StoredConversation> Append(int64_t user_id, int64_t id,
                                            const std::string& expect_state,
                                            const std::string& new_state,
                                            const std::vector<StoredMessage>& messages) override {
    absl::MutexLock lock(&mu_);
    auto it = rows_.find(id);
    if (it == rows_.end() || it->second.user_id != user_id) return Missing(id);
    if (it->second.state != expect_state) return absl::AbortedError("state moved on");
    for (StoredMessage message : messages) {
      message.create_micros = ++clock_;
      it->second.messages.push_back(message);
    }
    it->second.state = new_state;
    return it->second;
  }

  absl::Status Delete(int64_t user_id, int64_t id) override {
    absl::MutexLock lock(&mu_);
    auto it = rows_.find(id);
    if (it == rows_.end() || it->second.user_id != user_id) return Missing(id);
    rows_.erase(it);
    return absl::OkStatus();
  }

  std::string StateOf(int64_t id) {
    absl::MutexLock lock(&mu_);
    return rows_.at(id).state;
  }
  // As if another process had moved the conversation to `state`.
  void SetState(int64_t id, const std::string& state) {
    absl::MutexLock lock(&mu_);
    rows_.at(id).state = state;
  }
  int last_page_size() {
    absl::MutexLock lock(&mu_);
    return last_page_size_;
  }
  std::string last_page_token() {
    absl::MutexLock lock(&mu_);
    return last_page_token_;
  }

 private:
  static absl::Status Missing(int64_t id) {
    return absl::NotFoundError(absl::StrCat("conversation ", id, " not found"));
  }

  absl::Mutex mu_;
  int64_t last_id_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t clock_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<int64_t, StoredConversation> rows_ ABSL_GUARDED_BY(mu_);
  int last_page_size_ ABSL_GUARDED_BY(mu_) = 0;
  std::string last_page_token_ ABSL_GUARDED_BY(mu_);
};

}  // namespace spine::llm
