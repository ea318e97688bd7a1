// FakeStorageAdapter: an in-memory StorageAdapter for logic tests and the adapter contract
// suite. It interprets the FTS5 expressions BuildFtsMatchExpression produces ("w" AND "p"*).
// Thread-safe.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "services/storage/storage_adapter.h"

namespace spine::storage::testing {

class FakeStorageAdapter final : public StorageAdapter {
 public:
  absl::StatusOr<Thought> InsertThought(const Thought& thought) override {
    absl::MutexLock lock(&mu_);
    Thought stored = thought;
    stored.id = ++last_id_;
    thoughts_[stored.id] = stored;
    return stored;
  }

  absl::StatusOr<Thought> GetThought(int64_t user_id, int64_t id) override {
    absl::MutexLock lock(&mu_);
    auto it = thoughts_.find(id);
    if (it == thoughts_.end() || it->second.user_id != user_id) return NotFound(id);
    return it->second;
  }

  absl::StatusOr<Thought> UpdateThought(int64_t user_id, int64_t id,
                                        const ThoughtPatch& patch) override {
    absl::MutexLock lock(&mu_);
    auto it = thoughts_.find(id);
    if (it == thoughts_.end() || it->second.user_id != user_id) return NotFound(id);
    if (patch.text) it->second.text = *patch.text;
    if (patch.tags) it->second.tags = *patch.tags;
    it->second.update_micros = patch.update_micros;
    return it->second;
  }

  absl::Status DeleteThought(int64_t user_id, int64_t id) override {
    absl::MutexLock lock(&mu_);
    auto it = thoughts_.find(id);
    if (it == thoughts_.end() || it->second.user_id != user_id) return NotFound(id);
    thoughts_.erase(it);
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<Thought>> ListThoughts(const ThoughtQuery& query) override {
    absl::MutexLock lock(&mu_);
    std::vector<Thought> matches;
    for (const auto& [id, thought] : thoughts_) {
      if (thought.user_id != query.user_id) continue;
      if (query.after && !(thought.create_micros < query.after->create_micros ||
                           (thought.create_micros == query.after->create_micros &&
                            thought.id < query.after->id))) {
        continue;
      }
      if (!query.tag.empty() &&
          std::find(thought.tags.begin(), thought.tags.end(), query.tag) == thought.tags.end()) {
        continue;
      }
      if (!query.fts_match.empty() && !MatchesFts(query.fts_match, thought.text)) continue;
      matches.push_back(thought);
    }
    std::sort(matches.begin(), matches.end(), [](const Thought& a, const Thought& b) {
      return a.create_micros != b.create_micros ? a.create_micros > b.create_micros : a.id > b.id;
    });
    if (static_cast<int>(matches.size()) > query.limit) matches.resize(query.limit);
    return matches;
  }

  absl::StatusOr<User> InsertUser(const User& user) override {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, existing] : users_) {
      if (absl::EqualsIgnoreCase(existing.username, user.username)) {
        return absl::AlreadyExistsError(absl::StrCat("username '", user.username, "' is taken"));
      }
    }
    User stored = user;
    stored.id = ++last_user_id_;
    users_[stored.id] = stored;
    return stored;
  }

  absl::StatusOr<User> GetUserById(int64_t id) override {
    absl::MutexLock lock(&mu_);
    auto it = users_.find(id);
    if (it == users_.end()) return absl::NotFoundError(absl::StrCat("user ", id, " not found"));
    return it->second;
  }

  absl::StatusOr<User> GetUserByName(const std::string& username) override {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, user] : users_) {
      if (absl::EqualsIgnoreCase(user.username, username)) return user;
    }
    return absl::NotFoundError(absl::StrCat("user '", username, "' not found"));
  }

  absl::StatusOr<std::vector<User>> ListUsers() override {
    absl::MutexLock lock(&mu_);
    std::vector<User> users;
    for (const auto& [id, user] : users_) users.push_back(user);
    return users;
  }

  absl::StatusOr<User> UpdateUser(int64_t id, const UserPatch& patch) override {
    absl::MutexLock lock(&mu_);
    auto it = users_.find(id);
    if (it == users_.end()) return absl::NotFoundError(absl::StrCat("user ", id, " not found"));
    User after = it->second;
    if (patch.role) after.role = *patch.role;
    if (patch.disabled) after.disabled = *patch.disabled;
    if (patch.password_hash) after.password_hash = *patch.password_hash;
    if (LeavesNoAdminLocked(it->second, &after)) return LastAdmin(id);
    it->second = after;
    if (patch.revoke_refresh_tokens) {
      for (auto& [hash, stored] : tokens_) {
        if (stored.token.user_id == id) stored.revoked = true;
      }
    }
    return after;
  }

  absl::Status DeleteUser(int64_t id) override {
    absl::MutexLock lock(&mu_);
    auto it = users_.find(id);
    if (it == users_.end()) return absl::NotFoundError(absl::StrCat("user ", id, " not found"));
    if (LeavesNoAdminLocked(it->second, nullptr)) return LastAdmin(id);
    users_.erase(it);
    auto owned = [id](const auto& entry) { return entry.second.user_id == id; };
    std::erase_if(thoughts_, owned);
    std::erase_if(conversations_, owned);
    std::erase_if(pipelines_, owned);
    std::erase_if(runs_, owned);
    std::erase_if(api_keys_, owned);
    std::erase_if(tokens_, [id](const auto& entry) { return entry.second.token.user_id == id; });
    return absl::OkStatus();
  }

  absl::StatusOr<ApiKey> InsertApiKey(const ApiKey& key) override {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, existing] : api_keys_) {
      if (existing.prefix == key.prefix) return absl::AlreadyExistsError("API key prefix taken");
    }
    ApiKey stored = key;
    stored.id = ++last_api_key_id_;
    stored.last_used_micros = 0;
    stored.revoke_micros = 0;
    api_keys_[stored.id] = stored;
    return stored;
  }

  absl::StatusOr<ApiKey> GetApiKeyByPrefix(const std::string& prefix) override {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, key] : api_keys_) {
      if (key.prefix == prefix) return key;
    }
    return absl::NotFoundError("API key not found");
  }

  absl::StatusOr<std::vector<ApiKey>> ListApiKeys(int64_t user_id) override {
    absl::MutexLock lock(&mu_);
    std::vector<ApiKey> keys;
    for (auto it = api_keys_.rbegin(); it != api_keys_.rend(); ++it) {
      if (user_id == 0 || it->second.user_id == user_id) keys.push_back(it->second);
    }
    return keys;
  }

  absl::StatusOr<ApiKey> RevokeApiKey(int64_t user_id, int64_t id, int64_t now_micros) override {
    absl::MutexLock lock(&mu_);
    auto it = api_keys_.find(id);
    if (it == api_keys_.end() || (user_id != 0 && it->second.user_id != user_id)) {
      return absl::NotFoundError(absl::StrCat("API key ", id, " not found"));
    }
    if (it->second.revoke_micros == 0) it->second.revoke_micros = now_micros;
    return it->second;
  }

  absl::Status TouchApiKey(int64_t id, int64_t now_micros) override {
    absl::MutexLock lock(&mu_);
    auto it = api_keys_.find(id);
    if (it == api_keys_.end())
      return absl::NotFoundError(absl::StrCat("API key ", id, " not found"));
    it->second.last_used_micros = std::max(it->second.last_used_micros, now_micros);
    return absl::OkStatus();
  }

  absl::StatusOr<LoginLock> RecordLoginFailure(const std::string& username, int64_t now_micros,
                                               const LockoutPolicy& policy) override {
    absl::MutexLock lock(&mu_);
    const std::string key = absl::AsciiStrToLower(username);
    auto& failures = failures_[key];
    std::erase_if(failures, [&](int64_t t) { return t <= now_micros - policy.window_micros; });
    failures.push_back(now_micros);
    LoginLock state = LockLocked(key, now_micros, policy);
    if (!state.locked && state.failures_in_window >= policy.max_failures) {
      locks_[key] = now_micros + policy.lock_micros;
      state.locked = true;
      state.locked_until_micros = locks_[key];
    }
    return state;
  }

  absl::StatusOr<LoginLock> GetLoginLock(const std::string& username, int64_t now_micros,
                                         const LockoutPolicy& policy) override {
    absl::MutexLock lock(&mu_);
    return LockLocked(absl::AsciiStrToLower(username), now_micros, policy);
  }

  absl::Status ResetLoginFailures(const std::string& username) override {
    absl::MutexLock lock(&mu_);
    failures_.erase(absl::AsciiStrToLower(username));
    locks_.erase(absl::AsciiStrToLower(username));
    return absl::OkStatus();
  }

  absl::Status InsertRefreshToken(const RefreshToken& token, int64_t /*now_micros*/) override {
    absl::MutexLock lock(&mu_);
    if (tokens_.count(token.token_hash) != 0)
      return absl::AlreadyExistsError("duplicate token hash");
    tokens_[token.token_hash] = {token, false, false};
    return absl::OkStatus();
  }

  absl::StatusOr<RefreshToken> RotateRefreshToken(const std::string& presented_hash,
                                                  const RefreshToken& successor,
                                                  int64_t now_micros) override {
    absl::MutexLock lock(&mu_);
    auto it = tokens_.find(presented_hash);
    if (it == tokens_.end()) return absl::UnauthenticatedError("unknown refresh token");
    StoredToken& presented = it->second;
    if (presented.revoked) return absl::UnauthenticatedError("refresh token revoked");
    if (presented.used) {
      for (auto& [hash, stored] : tokens_) {
        if (stored.token.family_id == presented.token.family_id) stored.revoked = true;
      }
      return absl::PermissionDeniedError(
          "refresh token reused: its family is revoked (sign in again)");
    }
    if (presented.token.expire_micros <= now_micros)
      return absl::UnauthenticatedError("refresh token expired");
    presented.used = true;
    RefreshToken next = successor;
    next.family_id = presented.token.family_id;
    next.user_id = presented.token.user_id;
    const RefreshToken result = presented.token;
    tokens_[next.token_hash] = {next, false, false};
    return result;
  }

  absl::Status RevokeRefreshFamily(const std::string& token_hash) override {
    absl::MutexLock lock(&mu_);
    auto it = tokens_.find(token_hash);
    if (it == tokens_.end()) return absl::NotFoundError("unknown refresh token");
    const std::string family = it->second.token.family_id;
    for (auto& [hash, stored] : tokens_) {
      if (stored.token.family_id == family) stored.revoked = true;
    }
    return absl::OkStatus();
  }

  absl::StatusOr<Conversation> InsertConversation(const Conversation& conversation) override {
    absl::MutexLock lock(&mu_);
    Conversation stored = conversation;
    stored.id = ++last_conversation_id_;
    stored.messages.clear();
    conversations_[stored.id] = stored;
    return stored;
  }

  absl::StatusOr<Conversation> GetConversation(int64_t user_id, int64_t id,
                                               bool with_messages) override {
    absl::MutexLock lock(&mu_);
    auto it = conversations_.find(id);
    if (it == conversations_.end() || it->second.user_id != user_id)
      return Missing("conversation", id);
    Conversation result = it->second;
    if (!with_messages) result.messages.clear();
    return result;
  }

  absl::StatusOr<std::vector<Conversation>> ListConversations(
      const OwnedPageQuery& query) override {
    absl::MutexLock lock(&mu_);
    std::vector<Conversation> page = NewestPage(conversations_, query);
    for (Conversation& conversation : page) conversation.messages.clear();
    return page;
  }

  absl::StatusOr<Conversation> AppendConversationMessages(
      int64_t user_id, int64_t id, const ConversationAppend& append) override {
    absl::MutexLock lock(&mu_);
    auto it = conversations_.find(id);
    if (it == conversations_.end() || it->second.user_id != user_id)
      return Missing("conversation", id);
    if (it->second.state != append.expect_state) {
      return absl::AbortedError(absl::StrCat("conversation ", id, " is '", it->second.state,
                                             "', not '", append.expect_state, "'"));
    }
    it->second.messages.insert(it->second.messages.end(), append.messages.begin(),
                               append.messages.end());
    it->second.state = append.new_state;
    return it->second;
  }

  absl::Status DeleteConversation(int64_t user_id, int64_t id) override {
    absl::MutexLock lock(&mu_);
    auto it = conversations_.find(id);
    if (it == conversations_.end() || it->second.user_id != user_id)
      return Missing("conversation", id);
    conversations_.erase(it);
    return absl::OkStatus();
  }

  absl::StatusOr<Pipeline> InsertPipeline(const Pipeline& pipeline) override {
    absl::MutexLock lock(&mu_);
    Pipeline stored = pipeline;
    stored.id = ++last_pipeline_id_;
    pipelines_[stored.id] = stored;
    return stored;
  }

  absl::StatusOr<Pipeline> GetPipeline(int64_t user_id, int64_t id) override {
    absl::MutexLock lock(&mu_);
    auto it = pipelines_.find(id);
    if (it == pipelines_.end() || it->second.user_id != user_id) return Missing("pipeline", id);
    return it->second;
  }

  absl::StatusOr<std::vector<Pipeline>> ListPipelines(const OwnedPageQuery& query) override {
    absl::MutexLock lock(&mu_);
    return NewestPage(pipelines_, query);
  }

  absl::Status DeletePipeline(int64_t user_id, int64_t id) override {
    absl::MutexLock lock(&mu_);
    auto it = pipelines_.find(id);
    if (it == pipelines_.end() || it->second.user_id != user_id) return Missing("pipeline", id);
    pipelines_.erase(it);
    return absl::OkStatus();
  }

  absl::StatusOr<RunInsert> InsertRun(const RunRecord& run) override {
    absl::MutexLock lock(&mu_);
    if (!run.idempotency_key.empty()) {
      for (const auto& [id, stored] : runs_) {
        if (stored.user_id == run.user_id && stored.idempotency_key == run.idempotency_key)
          return RunInsert{.run = stored, .created = false};
      }
    }
    RunRecord stored = run;
    stored.id = ++last_run_id_;
    runs_[stored.id] = stored;
    return RunInsert{.run = stored, .created = true};
  }

  absl::StatusOr<RunRecord> UpdateRun(const RunRecord& run,
                                      const std::vector<std::string>& final_states) override {
    absl::MutexLock lock(&mu_);
    auto it = runs_.find(run.id);
    if (it == runs_.end() || it->second.user_id != run.user_id) return Missing("run", run.id);
    if (std::find(final_states.begin(), final_states.end(), it->second.state) !=
        final_states.end()) {
      return absl::AbortedError(
          absl::StrCat("run ", run.id, " already finished (", it->second.state, ")"));
    }
    it->second.state = run.state;
    it->second.payload = run.payload;
    it->second.update_micros = run.update_micros;
    return it->second;
  }

  absl::StatusOr<RunRecord> GetRun(int64_t user_id, int64_t id) override {
    absl::MutexLock lock(&mu_);
    auto it = runs_.find(id);
    if (it == runs_.end() || it->second.user_id != user_id) return Missing("run", id);
    return it->second;
  }

  absl::StatusOr<std::vector<RunRecord>> ListRuns(const RunQuery& query) override {
    absl::MutexLock lock(&mu_);
    std::map<int64_t, RunRecord> matching;
    for (const auto& [id, run] : runs_) {
      if (query.pipeline_id != 0 && run.pipeline_id != query.pipeline_id) continue;
      if (!query.states.empty() &&
          std::find(query.states.begin(), query.states.end(), run.state) == query.states.end()) {
        continue;
      }
      matching[id] = run;
    }
    return NewestPage(matching,
                      {.user_id = query.user_id, .after = query.after, .limit = query.limit});
  }

  absl::StatusOr<std::vector<AuditEvent>> AppendAuditEvents(
      const std::vector<AuditEvent>& events) override {
    absl::MutexLock lock(&mu_);
    std::vector<AuditEvent> stored;
    for (const AuditEvent& event : events) {
      stored.push_back(event);
      stored.back().id = static_cast<int64_t>(audit_.size()) + 1;
      audit_.push_back(stored.back());
    }
    return stored;
  }

  absl::StatusOr<std::vector<AuditEvent>> ListAuditEvents(const AuditQuery& query) override {
    absl::MutexLock lock(&mu_);
    std::vector<AuditEvent> matches;
    for (const AuditEvent& event : audit_) {
      if (!query.actor.empty() && event.actor != query.actor) continue;
      if (!query.action.empty() && event.action != query.action &&
          !(query.action.back() == '.' && event.action.starts_with(query.action))) {
        continue;
      }
      if (query.start_micros && event.create_micros < *query.start_micros) continue;
      if (query.end_micros && event.create_micros >= *query.end_micros) continue;
      if (query.after &&
          !(event.create_micros < query.after->create_micros ||
            (event.create_micros == query.after->create_micros && event.id < query.after->id))) {
        continue;
      }
      matches.push_back(event);
    }
    std::sort(matches.begin(), matches.end(), [](const AuditEvent& a, const AuditEvent& b) {
      return a.create_micros != b.create_micros ? a.create_micros > b.create_micros : a.id > b.id;
    });
    if (static_cast<int>(matches.size()) > query.limit) matches.resize(query.limit);
    return matches;
  }

  // The fake has no file to copy: it writes its thoughts' ids, one per line, into a file it
  // creates exclusively (the contract's ALREADY_EXISTS).
  absl::Status Backup(const std::string& destination) override {
    absl::MutexLock lock(&mu_);
    std::FILE* out = std::fopen(destination.c_str(), "wx");
    if (out == nullptr) {
      return errno == EEXIST ? absl::AlreadyExistsError(destination + " already exists")
                             : absl::InternalError(destination + ": " + std::strerror(errno));
    }
    for (const auto& [id, thought] : thoughts_)
      std::fprintf(out, "%lld\n", static_cast<long long>(id));
    return std::fclose(out) == 0 ? absl::OkStatus()
                                 : absl::InternalError("cannot write the backup");
  }

  absl::Status Ping() override { return absl::OkStatus(); }

 private:
  static absl::Status NotFound(int64_t id) {
    return absl::NotFoundError(absl::StrCat("thought ", id, " not found"));
  }

  static absl::Status Missing(absl::string_view kind, int64_t id) {
    return absl::NotFoundError(absl::StrCat(kind, " ", id, " not found"));
  }

  // Rows of `rows` owned by query.user_id (any owner when it is 0), newest first, after the
  // cursor, at most query.limit.
  template <typename Row>
  static std::vector<Row> NewestPage(const std::map<int64_t, Row>& rows,
                                     const OwnedPageQuery& query) {
    std::vector<Row> matches;
    for (const auto& [id, row] : rows) {
      if (query.user_id != 0 && row.user_id != query.user_id) continue;
      if (query.after &&
          !(row.create_micros < query.after->create_micros ||
            (row.create_micros == query.after->create_micros && row.id < query.after->id))) {
        continue;
      }
      matches.push_back(row);
    }
    std::sort(matches.begin(), matches.end(), [](const Row& a, const Row& b) {
      return a.create_micros != b.create_micros ? a.create_micros > b.create_micros : a.id > b.id;
    });
    if (static_cast<int>(matches.size()) > query.limit) matches.resize(query.limit);
    return matches;
  }

  // Lower-cased runs of ASCII letters/digits and non-ASCII bytes, like FTS5's unicode61 for
  // the texts the tests use.
  static std::vector<std::string> Tokens(absl::string_view text) {
    std::vector<std::string> tokens;
    std::string current;
    for (char c : text) {
      const auto byte = static_cast<unsigned char>(c);
      if (absl::ascii_isalnum(byte) || byte >= 0x80) {
        current += static_cast<char>(absl::ascii_tolower(byte));
      } else if (!current.empty()) {
        tokens.push_back(std::move(current));
        current.clear();
      }
    }
    if (!current.empty()) tokens.push_back(std::move(current));
    return tokens;
  }

  // Every `"phrase"` or `"phrase"*` term joined by AND must occur in the text.
  static bool MatchesFts(absl::string_view expression, absl::string_view text) {
    const std::vector<std::string> words = Tokens(text);
    for (absl::string_view term : absl::StrSplit(expression, " AND ")) {
      const bool prefix = absl::EndsWith(term, "*");
      if (prefix) term.remove_suffix(1);
      absl::ConsumePrefix(&term, "\"");
      absl::ConsumeSuffix(&term, "\"");
      const std::vector<std::string> phrase = Tokens(term);
      if (phrase.empty()) return false;
      bool found = false;
      for (size_t start = 0; !found && start + phrase.size() <= words.size(); ++start) {
        bool all = true;
        for (size_t i = 0; all && i < phrase.size(); ++i) {
          const bool last = i + 1 == phrase.size();
          all = (prefix && last) ? absl::StartsWith(words[start + i], phrase[i])
                                 : words[start + i] == phrase[i];
        }
        found = all;
      }
      if (!found) return false;
    }
    return true;
  }

  LoginLock LockLocked(const std::string& key, int64_t now_micros, const LockoutPolicy& policy)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    LoginLock state;
    for (int64_t t : failures_[key]) {
      if (t > now_micros - policy.window_micros) ++state.failures_in_window;
    }
    if (auto it = locks_.find(key); it != locks_.end() && it->second > now_micros) {
      state.locked = true;
      state.locked_until_micros = it->second;
    }
    return state;
  }

  // Whether replacing `before` by `after` (null: deleting it) leaves no enabled admin.
  bool LeavesNoAdminLocked(const User& before, const User* after)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto active = [](const User& user) { return user.role == "admin" && !user.disabled; };
    if (!active(before) || (after != nullptr && active(*after))) return false;
    for (const auto& [id, user] : users_) {
      if (id != before.id && active(user)) return false;
    }
    return true;
  }

  static absl::Status LastAdmin(int64_t id) {
    return absl::AbortedError(
        absl::StrCat("user ", id, " is the last enabled admin; make another admin first"));
  }

  struct StoredToken {
    RefreshToken token;
    bool used = false;
    bool revoked = false;
  };

  absl::Mutex mu_;
  int64_t last_id_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t last_user_id_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<int64_t, User> users_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::vector<int64_t>> failures_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int64_t> locks_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, StoredToken> tokens_ ABSL_GUARDED_BY(mu_);
  std::vector<AuditEvent> audit_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, Thought> thoughts_ ABSL_GUARDED_BY(mu_);
  int64_t last_conversation_id_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<int64_t, Conversation> conversations_ ABSL_GUARDED_BY(mu_);
  int64_t last_pipeline_id_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<int64_t, Pipeline> pipelines_ ABSL_GUARDED_BY(mu_);
  int64_t last_run_id_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<int64_t, RunRecord> runs_ ABSL_GUARDED_BY(mu_);
  int64_t last_api_key_id_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<int64_t, ApiKey> api_keys_ ABSL_GUARDED_BY(mu_);
};

}  // namespace spine::storage::testing
