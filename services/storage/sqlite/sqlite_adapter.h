// SqliteAdapter: the StorageAdapter over one SQLite database file in WAL mode.
//
// One writer connection, behind GroupCommit (concurrent writes share a transaction and its
// fsync; each write is still all-or-nothing and durable when it returns), and a small pool of
// read-only connections (WAL lets them read while the writer writes). Every statement is prepared
// once per connection and parameter-bound. Thread-safe. Thoughts, users, tokens and the audit log
// are in sqlite_adapter.cc; conversations, pipelines and runs in sqlite_records.cc.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "services/storage/sqlite/group_commit.h"
#include "services/storage/sqlite/sqlite_connection.h"
#include "services/storage/storage_adapter.h"

namespace spine::storage {

class SqliteAdapter final : public StorageAdapter {
 public:
  // Opens (creating) the database at `path`, applies pending migrations, and opens
  // `read_connections` readers. Fails if the schema is newer than this binary.
  static absl::StatusOr<std::unique_ptr<SqliteAdapter>> Open(const std::string& path,
                                                             int read_connections);

  absl::StatusOr<Thought> InsertThought(const Thought& thought) override;
  absl::StatusOr<Thought> GetThought(int64_t user_id, int64_t id) override;
  absl::StatusOr<Thought> UpdateThought(int64_t user_id, int64_t id,
                                        const ThoughtPatch& patch) override;
  absl::Status DeleteThought(int64_t user_id, int64_t id) override;
  absl::StatusOr<std::vector<Thought>> ListThoughts(const ThoughtQuery& query) override;
  absl::StatusOr<User> InsertUser(const User& user) override;
  absl::StatusOr<User> GetUserById(int64_t id) override;
  absl::StatusOr<User> GetUserByName(const std::string& username) override;
  absl::StatusOr<std::vector<User>> ListUsers() override;
  absl::StatusOr<User> UpdateUser(int64_t id, const UserPatch& patch) override;
  absl::Status DeleteUser(int64_t id) override;
  absl::StatusOr<ApiKey> InsertApiKey(const ApiKey& key) override;
  absl::StatusOr<ApiKey> GetApiKeyByPrefix(const std::string& prefix) override;
  absl::StatusOr<std::vector<ApiKey>> ListApiKeys(int64_t user_id) override;
  absl::StatusOr<ApiKey> RevokeApiKey(int64_t user_id, int64_t id, int64_t now_micros) override;
  absl::Status TouchApiKey(int64_t id, int64_t now_micros) override;
  absl::StatusOr<LoginLock> RecordLoginFailure(const std::string& username, int64_t now_micros,
                                               const LockoutPolicy& policy) override;
  absl::StatusOr<LoginLock> GetLoginLock(const std::string& username, int64_t now_micros,
                                         const LockoutPolicy& policy) override;
  absl::Status ResetLoginFailures(const std::string& username) override;
  absl::Status InsertRefreshToken(const RefreshToken& token, int64_t now_micros) override;
  absl::StatusOr<RefreshToken> RotateRefreshToken(const std::string& presented_hash,
                                                  const RefreshToken& successor,
                                                  int64_t now_micros) override;
  absl::Status RevokeRefreshFamily(const std::string& token_hash) override;
  absl::StatusOr<Conversation> InsertConversation(const Conversation& conversation) override;
  absl::StatusOr<Conversation> GetConversation(int64_t user_id, int64_t id,
                                               bool with_messages) override;
  absl::StatusOr<std::vector<Conversation>> ListConversations(const OwnedPageQuery& query) override;
  absl::StatusOr<Conversation> AppendConversationMessages(
      int64_t user_id, int64_t id, const ConversationAppend& append) override;
  absl::Status DeleteConversation(int64_t user_id, int64_t id) override;
  absl::StatusOr<Pipeline> InsertPipeline(const Pipeline& pipeline) override;
  absl::StatusOr<Pipeline> GetPipeline(int64_t user_id, int64_t id) override;
  absl::StatusOr<std::vector<Pipeline>> ListPipelines(const OwnedPageQuery& query) override;
  absl::Status DeletePipeline(int64_t user_id, int64_t id) override;
  absl::StatusOr<RunInsert> InsertRun(const RunRecord& run) override;
  absl::StatusOr<RunRecord> UpdateRun(const RunRecord& run,
                                      const std::vector<std::string>& final_states) override;
  absl::StatusOr<RunRecord> GetRun(int64_t user_id, int64_t id) override;
  absl::StatusOr<std::vector<RunRecord>> ListRuns(const RunQuery& query) override;
  absl::StatusOr<std::vector<AuditEvent>> AppendAuditEvents(
      const std::vector<AuditEvent>& events) override;
  absl::StatusOr<std::vector<AuditEvent>> ListAuditEvents(const AuditQuery& query) override;
  absl::Status Backup(const std::string& destination) override;
  absl::Status Ping() override;

 private:
  SqliteAdapter() = default;

  // A reader checked out of the pool for one call; returned on destruction.
  class Reader {
   public:
    Reader(SqliteAdapter& owner, std::unique_ptr<SqliteConnection> connection)
        : owner_(owner), connection_(std::move(connection)) {}
    ~Reader() {
      absl::MutexLock lock(&owner_.read_mu_);
      owner_.idle_readers_.push_back(std::move(connection_));
    }
    Reader(const Reader&) = delete;
    Reader& operator=(const Reader&) = delete;
    SqliteConnection& operator*() { return *connection_; }

   private:
    SqliteAdapter& owner_;
    std::unique_ptr<SqliteConnection> connection_;
  };
  Reader AcquireReader();

  // Runs `body` on the writer as one write of a (possibly shared) transaction: its changes are
  // rolled back if it fails, and it returns once they are committed. (Defined here because the
  // adapter's operations are split over two .cc files.)
  template <typename Body>
  auto WriteTransaction(Body body) -> decltype(body(std::declval<SqliteConnection&>())) {
    using Result = decltype(body(std::declval<SqliteConnection&>()));
    std::optional<Result> result;
    absl::Status outcome = writes_->Run([&](SqliteConnection& db) -> absl::Status {
      result.emplace(body(db));
      return StatusOf(*result);
    });
    if (!outcome.ok()) return outcome;  // its own error, or the commit's
    return *std::move(result);
  }

  std::unique_ptr<GroupCommit> writes_;

  absl::Mutex read_mu_;
  std::vector<std::unique_ptr<SqliteConnection>> idle_readers_ ABSL_GUARDED_BY(read_mu_);
};

}  // namespace spine::storage
