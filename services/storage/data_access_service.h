// DataAccessService: the business rules between the gRPC layer and the StorageAdapter —
// validation, ownership, pagination with tamper-proof page tokens, search — for thoughts,
// users and sessions, conversations, pipelines and runs, and the audit log. The implementation
// is split by domain: data_access_service.cc (thoughts, accounts, audit) and
// data_access_records.cc (conversations, pipelines, runs).
//
// It never names a database: the adapter behind it is an interface. Bad input is rejected with
// INVALID_ARGUMENT before anything is written. Thread-safe (the adapter is).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/core/clock.h"
#include "services/storage/audit_event.h"
#include "services/storage/conversation.h"
#include "services/storage/page_token.h"
#include "services/storage/pipeline.h"
#include "services/storage/storage_adapter.h"
#include "services/storage/thought.h"
#include "services/storage/user.h"

namespace spine::storage {

struct ListThoughtsParams {
  int page_size = 0;  // 0: the default (50); else 1..500
  std::string page_token{};
  std::string tag{};
  std::string query{};
};

struct ListAuditParams {
  std::string actor{};
  std::optional<int64_t> start_micros{};
  std::optional<int64_t> end_micros{};
  int page_size = 0;  // 0: 50; else 1..500
  std::string page_token{};
};

struct AuditPage {
  std::vector<AuditEvent> events;
  std::string next_page_token;
};

struct ThoughtPage {
  std::vector<Thought> thoughts;
  std::string next_page_token;  // empty on the last page
};

struct ConversationPage {
  std::vector<Conversation> conversations;  // without messages
  std::string next_page_token;
};

struct PipelinePage {
  std::vector<Pipeline> pipelines;
  std::string next_page_token;
};

struct ListRunsParams {
  int64_t user_id = 0;
  int64_t pipeline_id = 0;  // 0: any
  std::string state{};      // empty: any
  // Crash recovery: runs in any of these states, of every user when user_id is 0. Not
  // combinable with `state`.
  std::vector<std::string> unfinished_states{};
  int page_size = 0;
  std::string page_token{};
};

struct RunPage {
  std::vector<RunRecord> runs;
  std::string next_page_token;
};

class DataAccessService {
 public:
  DataAccessService(StorageAdapter& adapter, const PageTokenCodec& page_tokens, const Clock& clock)
      : adapter_(adapter), page_tokens_(page_tokens), clock_(clock) {}

  absl::StatusOr<Thought> CreateThought(int64_t user_id, const std::string& text,
                                        const std::vector<std::string>& tags);
  absl::StatusOr<Thought> GetThought(int64_t user_id, int64_t id);
  absl::StatusOr<ThoughtPage> ListThoughts(int64_t user_id, const ListThoughtsParams& params);
  // Replaces the fields that are present; NOT_FOUND for another user's thought.
  absl::StatusOr<Thought> UpdateThought(int64_t user_id, int64_t id,
                                        const std::optional<std::string>& text,
                                        const std::optional<std::vector<std::string>>& tags);
  absl::Status DeleteThought(int64_t user_id, int64_t id);

  // Users. `username` must match ^[a-z0-9_.-]{3,32}$ (API.md), role "user" or "admin", and the
  // hash is the gateway's encoded scrypt hash. ALREADY_EXISTS for a taken name (any case).
  absl::StatusOr<User> CreateUser(const std::string& username, const std::string& role,
                                  const std::string& password_hash);
  absl::StatusOr<User> GetUserById(int64_t id);
  // Case-insensitive.
  absl::StatusOr<User> GetUserByName(const std::string& username);
  absl::StatusOr<std::vector<User>> ListUsers();

  // Login lockout, evaluated at the clock's now.
  absl::StatusOr<LoginLock> RecordLoginFailure(const std::string& username,
                                               const LockoutPolicy& policy);
  absl::StatusOr<LoginLock> GetLoginLock(const std::string& username, const LockoutPolicy& policy);
  absl::Status ResetLoginFailures(const std::string& username);

  // Refresh tokens: `token_hash` is the SHA-256 (32 bytes) of the opaque token. An empty
  // `family_id` starts a new family (a random id is chosen).
  absl::StatusOr<RefreshToken> CreateRefreshToken(int64_t user_id, const std::string& token_hash,
                                                  const std::string& family_id,
                                                  int64_t expire_micros);
  absl::StatusOr<RefreshToken> RotateRefreshToken(const std::string& presented_hash,
                                                  const std::string& successor_hash,
                                                  int64_t successor_expire_micros);
  absl::Status RevokeRefreshFamily(const std::string& token_hash);

  // Conversations of spine-llm, per user (ids > 0). Model 1..128 characters, title at most
  // 256, system prompt at most 1 MiB, state 1..32 of [a-z_]. A new conversation starts empty.
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

  // Pipelines of spine-tasks, per user. Name 1..128 characters without control characters,
  // definition a JSON object of at most 256 KiB (its schema is spine-tasks' business).
  absl::StatusOr<Pipeline> CreatePipeline(int64_t user_id, const std::string& name,
                                          const std::string& definition_json);
  absl::StatusOr<Pipeline> GetPipeline(int64_t user_id, int64_t id);
  absl::StatusOr<PipelinePage> ListPipelines(int64_t user_id, int page_size,
                                             const std::string& page_token);
  absl::Status DeletePipeline(int64_t user_id, int64_t id);

  // Runs: state one of QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED; idempotency key at most
  // 128 printable ASCII characters; payload at most 4 MiB. Create stamps both times with the
  // clock's now and returns the user's earlier run for a reused key (created = false).
  absl::StatusOr<RunInsert> CreateRun(RunRecord run);
  // Replaces state and payload; ABORTED once the stored run has finished.
  absl::StatusOr<RunRecord> UpdateRun(RunRecord run);
  absl::StatusOr<RunRecord> GetRun(int64_t user_id, int64_t id);
  absl::StatusOr<RunPage> ListRuns(const ListRunsParams& params);

  // Appends to the audit log, stamped with the clock's now. `service` is the recording
  // service (from its token); action is lowercase dotted ("storage.backup"), outcome one of
  // ok/denied/error, details a JSON object of at most 16 KiB.
  absl::StatusOr<AuditEvent> AppendAuditEvent(AuditEvent event);
  // Appends 1..kMaxAuditBatch events in one transaction: all or, if any is invalid
  // (INVALID_ARGUMENT naming its index), none. Returns how many were appended.
  absl::StatusOr<int> AppendAuditEvents(std::vector<AuditEvent> events);
  static constexpr size_t kMaxAuditBatch = 500;
  absl::StatusOr<AuditPage> ListAuditEvents(const ListAuditParams& params);

  // Online backup into `directory`/`file_name`. The name is 1..64 of [A-Za-z0-9._-], not
  // starting with '.', so it can never leave the directory; an existing file is ALREADY_EXISTS.
  // Returns the size of the copy in bytes.
  absl::StatusOr<int64_t> BackupDatabase(const std::string& directory,
                                         const std::string& file_name);

 private:
  // Checks an event to be appended and stamps it with the clock; INVALID_ARGUMENT naming the
  // field.
  absl::Status PrepareAuditEvent(AuditEvent& event) const;

  StorageAdapter& adapter_;
  const PageTokenCodec& page_tokens_;
  const Clock& clock_;
};

}  // namespace spine::storage
