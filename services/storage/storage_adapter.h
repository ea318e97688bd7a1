// StorageAdapter: the contract between the data access classes (access/) and a database.
//
// Adapters store and fetch exactly what they are given: validation, ownership rules and page
// tokens live above them. Every operation is scoped by user id, so an adapter can never hand one
// user's row to another. Implementations are thread-safe. SqliteAdapter is the real one; the
// contract test suite in tests/unit/services/storage runs against it and an in-memory fake.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/storage/audit_event.h"
#include "services/storage/conversation.h"
#include "services/storage/pipeline.h"
#include "services/storage/thought.h"
#include "services/storage/user.h"

namespace spine::storage {

class StorageAdapter {
 public:
  virtual ~StorageAdapter() = default;

  // Stores a new thought (id ignored) and returns it with its assigned id.
  virtual absl::StatusOr<Thought> InsertThought(const Thought& thought) = 0;
  // NOT_FOUND unless the thought exists and belongs to `user_id`.
  virtual absl::StatusOr<Thought> GetThought(int64_t user_id, int64_t id) = 0;
  // Applies `patch` atomically; NOT_FOUND as for GetThought.
  virtual absl::StatusOr<Thought> UpdateThought(int64_t user_id, int64_t id,
                                                const ThoughtPatch& patch) = 0;
  // NOT_FOUND as for GetThought.
  virtual absl::Status DeleteThought(int64_t user_id, int64_t id) = 0;
  // At most `query.limit` thoughts, newest first, matching every filter set in `query`.
  virtual absl::StatusOr<std::vector<Thought>> ListThoughts(const ThoughtQuery& query) = 0;

  // Users. ALREADY_EXISTS when the username is taken (case-insensitively).
  virtual absl::StatusOr<User> InsertUser(const User& user) = 0;
  virtual absl::StatusOr<User> GetUserById(int64_t id) = 0;
  virtual absl::StatusOr<User> GetUserByName(const std::string& username) = 0;  // NOT_FOUND
  virtual absl::StatusOr<std::vector<User>> ListUsers() = 0;
  // Applies `patch` atomically (see UserPatch). NOT_FOUND for an unknown user; ABORTED with
  // reason LAST_ADMIN when the change would leave no enabled admin (demoting or disabling the
  // last one), checked in the same transaction so two admins cannot demote each other at once.
  virtual absl::StatusOr<User> UpdateUser(int64_t id, const UserPatch& patch) = 0;
  // Deletes the user and everything it owns — thoughts, conversations with their messages,
  // pipelines, runs, refresh tokens, API keys — in one transaction; the audit log keeps its
  // events. NOT_FOUND for an unknown user; ABORTED with reason LAST_ADMIN for the last enabled
  // admin. User ids are never reused, so nothing left elsewhere can reach a later account.
  virtual absl::Status DeleteUser(int64_t id) = 0;

  // API keys. Insert fails with ALREADY_EXISTS for a taken prefix. Get by prefix is NOT_FOUND
  // for an unknown one (revoked and expired keys are returned: the caller decides).
  virtual absl::StatusOr<ApiKey> InsertApiKey(const ApiKey& key) = 0;
  virtual absl::StatusOr<ApiKey> GetApiKeyByPrefix(const std::string& prefix) = 0;
  // The keys of `user_id` (0: every user's), newest first, revoked ones included.
  virtual absl::StatusOr<std::vector<ApiKey>> ListApiKeys(int64_t user_id) = 0;
  // Marks the key revoked at `now_micros` (a revoked key stays revoked at its first time).
  // NOT_FOUND unless the key exists and belongs to `user_id` (0: any user).
  virtual absl::StatusOr<ApiKey> RevokeApiKey(int64_t user_id, int64_t id, int64_t now_micros) = 0;
  // Records a use; never moves last_used backwards. NOT_FOUND for an unknown key.
  virtual absl::Status TouchApiKey(int64_t id, int64_t now_micros) = 0;

  // Login lockout: records a failure at `now_micros`, forgets failures older than the window,
  // and locks the username when the window holds `max_failures`. One transaction.
  virtual absl::StatusOr<LoginLock> RecordLoginFailure(const std::string& username,
                                                       int64_t now_micros,
                                                       const LockoutPolicy& policy) = 0;
  virtual absl::StatusOr<LoginLock> GetLoginLock(const std::string& username, int64_t now_micros,
                                                 const LockoutPolicy& policy) = 0;
  virtual absl::Status ResetLoginFailures(const std::string& username) = 0;

  // Refresh tokens. Insert fails with ALREADY_EXISTS for a hash that is already stored.
  virtual absl::Status InsertRefreshToken(const RefreshToken& token, int64_t now_micros) = 0;
  // Atomically: the presented token must exist, be unexpired at `now_micros`, not revoked and
  // unused; it becomes used and `successor` (same family) is stored. Presenting a used token
  // again revokes its whole family and fails with PERMISSION_DENIED; unknown, expired or
  // revoked tokens fail with UNAUTHENTICATED. Returns the presented token's record.
  virtual absl::StatusOr<RefreshToken> RotateRefreshToken(const std::string& presented_hash,
                                                          const RefreshToken& successor,
                                                          int64_t now_micros) = 0;
  // Revokes the family of the token with this hash; NOT_FOUND for an unknown hash.
  virtual absl::Status RevokeRefreshFamily(const std::string& token_hash) = 0;

  // Conversations. Get, append and delete are NOT_FOUND unless the conversation belongs to
  // `user_id`; Get leaves `messages` empty unless `with_messages`; List never fills them.
  virtual absl::StatusOr<Conversation> InsertConversation(const Conversation& conversation) = 0;
  virtual absl::StatusOr<Conversation> GetConversation(int64_t user_id, int64_t id,
                                                       bool with_messages) = 0;
  virtual absl::StatusOr<std::vector<Conversation>> ListConversations(
      const OwnedPageQuery& query) = 0;
  // Atomically: ABORTED unless the stored state equals `append.expect_state`; else appends the
  // messages after the existing ones, sets the state and returns the conversation with all
  // its messages.
  virtual absl::StatusOr<Conversation> AppendConversationMessages(
      int64_t user_id, int64_t id, const ConversationAppend& append) = 0;
  // Deletes the conversation and its messages.
  virtual absl::Status DeleteConversation(int64_t user_id, int64_t id) = 0;

  // Pipelines, scoped by user like conversations.
  virtual absl::StatusOr<Pipeline> InsertPipeline(const Pipeline& pipeline) = 0;
  virtual absl::StatusOr<Pipeline> GetPipeline(int64_t user_id, int64_t id) = 0;
  virtual absl::StatusOr<std::vector<Pipeline>> ListPipelines(const OwnedPageQuery& query) = 0;
  virtual absl::Status DeletePipeline(int64_t user_id, int64_t id) = 0;

  // Runs. Insert with a non-empty idempotency key that the user already used returns that
  // earlier run unchanged (created = false), atomically with the check.
  virtual absl::StatusOr<RunInsert> InsertRun(const RunRecord& run) = 0;
  // Replaces state, payload and update time of the user's run. ABORTED if the stored state is
  // one of `final_states` (a finished run never changes again); NOT_FOUND as for Get.
  virtual absl::StatusOr<RunRecord> UpdateRun(const RunRecord& run,
                                              const std::vector<std::string>& final_states) = 0;
  virtual absl::StatusOr<RunRecord> GetRun(int64_t user_id, int64_t id) = 0;
  virtual absl::StatusOr<std::vector<RunRecord>> ListRuns(const RunQuery& query) = 0;

  // Audit log: append-only, there is no update or delete. A batch is appended in one
  // transaction, all or nothing; the stored events come back in order, with their ids.
  virtual absl::StatusOr<std::vector<AuditEvent>> AppendAuditEvents(
      const std::vector<AuditEvent>& events) = 0;
  absl::StatusOr<AuditEvent> AppendAuditEvent(const AuditEvent& event) {
    absl::StatusOr<std::vector<AuditEvent>> stored = AppendAuditEvents({event});
    if (!stored.ok()) return stored.status();
    return stored->front();
  }
  virtual absl::StatusOr<std::vector<AuditEvent>> ListAuditEvents(const AuditQuery& query) = 0;

  // Copies the live database to `destination` without stopping writers. The file is created
  // exclusively: ALREADY_EXISTS if the name is taken (even by a copy running at the same moment),
  // and a copy that fails leaves no file behind. Errors name the path and the OS's reason.
  virtual absl::Status Backup(const std::string& destination) = 0;

  // A cheap round trip to the database (the status probe's dbConn).
  virtual absl::Status Ping() = 0;
};

}  // namespace spine::storage
