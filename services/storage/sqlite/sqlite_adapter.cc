#include "services/storage/sqlite/sqlite_adapter.h"

#include <functional>
#include <limits>

#include "absl/strings/str_cat.h"
#include "libs/core/status.h"
#include "nlohmann/json.hpp"
#include "services/storage/sqlite/migrations.h"

namespace spine::storage {
namespace {

// Above any stored (create_micros, id): the cursor of a first page.
constexpr int64_t kNoCursor = std::numeric_limits<int64_t>::max();
// Writes per shared transaction: enough that one fsync serves every gRPC handler thread waiting
// under load, few enough that one transaction stays short.
constexpr int kMaxWritesPerCommit = 64;

constexpr char kSelectThought[] =
    "SELECT id, user_id, text, tags_json, create_micros, update_micros FROM thoughts "
    "WHERE id = ?1 AND user_id = ?2";

std::string TagsToJson(const std::vector<std::string>& tags) {
  return nlohmann::json(tags).dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
}

absl::StatusOr<std::vector<std::string>> TagsFromJson(const std::string& json) {
  const nlohmann::json parsed = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_array()) return absl::DataLossError("a stored thought has malformed tags");
  std::vector<std::string> tags;
  for (const auto& tag : parsed) {
    if (!tag.is_string()) return absl::DataLossError("a stored thought has malformed tags");
    tags.push_back(tag.get<std::string>());
  }
  return tags;
}

absl::StatusOr<Thought> ReadThought(const Statement& stmt) {
  Thought thought;
  thought.id = stmt.ColumnInt(0);
  thought.user_id = stmt.ColumnInt(1);
  thought.text = stmt.ColumnText(2);
  SPINE_ASSIGN_OR_RETURN(thought.tags, TagsFromJson(stmt.ColumnText(3)));
  thought.create_micros = stmt.ColumnInt(4);
  thought.update_micros = stmt.ColumnInt(5);
  return thought;
}

absl::Status NotFound(int64_t id) {
  return absl::NotFoundError(absl::StrCat("thought ", id, " not found"));
}

absl::Status WriteTags(SqliteConnection& db, int64_t thought_id, int64_t user_id,
                       const std::vector<std::string>& tags) {
  SPINE_ASSIGN_OR_RETURN(
      auto insert,
      db.Prepare("INSERT INTO thought_tags (thought_id, user_id, tag) VALUES (?1, ?2, ?3)"));
  for (const std::string& tag : tags) {
    insert->BindInt(1, thought_id);
    insert->BindInt(2, user_id);
    insert->BindText(3, tag);
    SPINE_RETURN_IF_ERROR(insert->Run());
    insert->Reset();
  }
  return absl::OkStatus();
}

absl::StatusOr<Thought> SelectThought(SqliteConnection& db, int64_t user_id, int64_t id) {
  SPINE_ASSIGN_OR_RETURN(auto stmt, db.Prepare(kSelectThought));
  stmt->BindInt(1, id);
  stmt->BindInt(2, user_id);
  SPINE_ASSIGN_OR_RETURN(bool row, stmt->Step());
  if (!row) return NotFound(id);
  return ReadThought(*stmt);
}

constexpr char kSelectUser[] =
    "SELECT id, username, role, password_hash, create_micros, disabled FROM users ";

User ReadUser(const Statement& stmt) {
  return User{.id = stmt.ColumnInt(0),
              .username = stmt.ColumnText(1),
              .role = stmt.ColumnText(2),
              .password_hash = stmt.ColumnText(3),
              .create_micros = stmt.ColumnInt(4),
              .disabled = stmt.ColumnInt(5) != 0};
}

constexpr char kSelectApiKey[] =
    "SELECT id, user_id, name, scope, prefix, secret_hash, create_micros, expire_micros, "
    "last_used_micros, revoke_micros FROM api_keys ";

ApiKey ReadApiKey(const Statement& stmt) {
  return ApiKey{.id = stmt.ColumnInt(0),
                .user_id = stmt.ColumnInt(1),
                .name = stmt.ColumnText(2),
                .scope = stmt.ColumnText(3),
                .prefix = stmt.ColumnText(4),
                .secret_hash = stmt.ColumnBlob(5),
                .create_micros = stmt.ColumnInt(6),
                .expire_micros = stmt.ColumnInt(7),
                .last_used_micros = stmt.ColumnInt(8),
                .revoke_micros = stmt.ColumnInt(9)};
}

bool IsActiveAdmin(const User& user) { return user.role == "admin" && !user.disabled; }

// ABORTED when `before` was an enabled admin and no enabled admin is left (inside the writer's
// transaction, which the caller then rolls back).
absl::Status KeepAnAdmin(SqliteConnection& db, const User& before) {
  if (!IsActiveAdmin(before)) return absl::OkStatus();
  SPINE_ASSIGN_OR_RETURN(
      auto count, db.Prepare("SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0"));
  SPINE_ASSIGN_OR_RETURN(bool row, count->Step());
  if (row && count->ColumnInt(0) > 0) return absl::OkStatus();
  return absl::AbortedError(
      absl::StrCat("user ", before.id, " is the last enabled admin; make another admin first"));
}

absl::StatusOr<User> SelectOneUser(SqliteConnection& db, const std::string& where,
                                   const std::function<void(Statement&)>& bind,
                                   const std::string& what) {
  SPINE_ASSIGN_OR_RETURN(auto stmt, db.Prepare(kSelectUser + where));
  bind(*stmt);
  SPINE_ASSIGN_OR_RETURN(bool row, stmt->Step());
  if (!row) return absl::NotFoundError(absl::StrCat("user ", what, " not found"));
  return ReadUser(*stmt);
}

// Failures inside the window, and the lock, as of `now`.
absl::StatusOr<LoginLock> ReadLock(SqliteConnection& db, const std::string& username,
                                   int64_t now_micros, const LockoutPolicy& policy) {
  LoginLock lock;
  {
    SPINE_ASSIGN_OR_RETURN(
        auto count,
        db.Prepare(
            "SELECT COUNT(*) FROM login_failures WHERE username = ?1 AND failure_micros > ?2"));
    count->BindText(1, username);
    count->BindInt(2, now_micros - policy.window_micros);
    SPINE_ASSIGN_OR_RETURN(bool row, count->Step());
    lock.failures_in_window = row ? static_cast<int>(count->ColumnInt(0)) : 0;
  }
  SPINE_ASSIGN_OR_RETURN(
      auto locked, db.Prepare("SELECT locked_until_micros FROM login_locks WHERE username = ?1"));
  locked->BindText(1, username);
  SPINE_ASSIGN_OR_RETURN(bool row, locked->Step());
  if (row && locked->ColumnInt(0) > now_micros) {
    lock.locked = true;
    lock.locked_until_micros = locked->ColumnInt(0);
  }
  return lock;
}

}  // namespace

SqliteAdapter::Reader SqliteAdapter::AcquireReader() {
  absl::MutexLock lock(&read_mu_);
  // Bounded pool: callers beyond it wait for a connection rather than opening more.
  read_mu_.Await(absl::Condition(
      +[](std::vector<std::unique_ptr<SqliteConnection>>* idle) { return !idle->empty(); },
      &idle_readers_));
  std::unique_ptr<SqliteConnection> connection = std::move(idle_readers_.back());
  idle_readers_.pop_back();
  return Reader(*this, std::move(connection));
}

absl::StatusOr<std::unique_ptr<SqliteAdapter>> SqliteAdapter::Open(const std::string& path,
                                                                   int read_connections) {
  std::unique_ptr<SqliteAdapter> adapter(new SqliteAdapter());
  SPINE_ASSIGN_OR_RETURN(std::unique_ptr<SqliteConnection> writer,
                         SqliteConnection::Open(path, false));
  SPINE_RETURN_IF_ERROR(Migrate(*writer, AllMigrations()));
  adapter->writes_ = std::make_unique<GroupCommit>(std::move(writer), kMaxWritesPerCommit);
  absl::MutexLock lock(&adapter->read_mu_);
  for (int i = 0; i < read_connections; ++i) {
    SPINE_ASSIGN_OR_RETURN(std::unique_ptr<SqliteConnection> reader,
                           SqliteConnection::Open(path, true));
    adapter->idle_readers_.push_back(std::move(reader));
  }
  return adapter;
}

absl::StatusOr<Thought> SqliteAdapter::InsertThought(const Thought& thought) {
  return WriteTransaction([&](SqliteConnection& db) -> absl::StatusOr<Thought> {
    SPINE_ASSIGN_OR_RETURN(
        auto insert,
        db.Prepare("INSERT INTO thoughts (user_id, text, tags_json, create_micros, update_micros) "
                   "VALUES (?1, ?2, ?3, ?4, ?5)"));
    insert->BindInt(1, thought.user_id);
    insert->BindText(2, thought.text);
    insert->BindText(3, TagsToJson(thought.tags));
    insert->BindInt(4, thought.create_micros);
    insert->BindInt(5, thought.update_micros);
    SPINE_RETURN_IF_ERROR(insert->Run());
    Thought stored = thought;
    stored.id = db.last_insert_rowid();
    SPINE_RETURN_IF_ERROR(WriteTags(db, stored.id, stored.user_id, stored.tags));
    return stored;
  });
}

absl::StatusOr<Thought> SqliteAdapter::GetThought(int64_t user_id, int64_t id) {
  Reader reader = AcquireReader();
  return SelectThought(*reader, user_id, id);
}

absl::StatusOr<Thought> SqliteAdapter::UpdateThought(int64_t user_id, int64_t id,
                                                     const ThoughtPatch& patch) {
  return WriteTransaction([&](SqliteConnection& db) -> absl::StatusOr<Thought> {
    SPINE_ASSIGN_OR_RETURN(Thought thought, SelectThought(db, user_id, id));
    if (patch.text) thought.text = *patch.text;
    if (patch.tags) thought.tags = *patch.tags;
    thought.update_micros = patch.update_micros;
    {
      SPINE_ASSIGN_OR_RETURN(
          auto update,
          db.Prepare("UPDATE thoughts SET text = ?1, tags_json = ?2, update_micros = ?3 "
                     "WHERE id = ?4 AND user_id = ?5"));
      update->BindText(1, thought.text);
      update->BindText(2, TagsToJson(thought.tags));
      update->BindInt(3, thought.update_micros);
      update->BindInt(4, id);
      update->BindInt(5, user_id);
      SPINE_RETURN_IF_ERROR(update->Run());
    }
    if (patch.tags) {
      SPINE_ASSIGN_OR_RETURN(auto clear,
                             db.Prepare("DELETE FROM thought_tags WHERE thought_id = ?1"));
      clear->BindInt(1, id);
      SPINE_RETURN_IF_ERROR(clear->Run());
      clear.reset();
      SPINE_RETURN_IF_ERROR(WriteTags(db, id, user_id, thought.tags));
    }
    return thought;
  });
}

absl::Status SqliteAdapter::DeleteThought(int64_t user_id, int64_t id) {
  absl::StatusOr<bool> deleted =
      WriteTransaction([&](SqliteConnection& db) -> absl::StatusOr<bool> {
        SPINE_ASSIGN_OR_RETURN(auto remove,
                               db.Prepare("DELETE FROM thoughts WHERE id = ?1 AND user_id = ?2"));
        remove->BindInt(1, id);
        remove->BindInt(2, user_id);
        SPINE_RETURN_IF_ERROR(remove->Run());
        return db.changes() > 0;
      });
  if (!deleted.ok()) return deleted.status();
  if (!*deleted) return NotFound(id);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Thought>> SqliteAdapter::ListThoughts(const ThoughtQuery& query) {
  // One statement for every filter combination, so it is prepared once; unset filters are
  // neutralised by their parameters.
  static constexpr char kList[] =
      "SELECT t.id, t.user_id, t.text, t.tags_json, t.create_micros, t.update_micros "
      "FROM thoughts t WHERE t.user_id = ?1 "
      "AND (t.create_micros, t.id) < (?3, ?4) "
      "AND (?5 = '' OR EXISTS (SELECT 1 FROM thought_tags g "
      "     WHERE g.user_id = ?1 AND g.tag = ?5 AND g.thought_id = t.id)) "
      "AND (?6 = '' OR t.id IN (SELECT rowid FROM thoughts_fts WHERE thoughts_fts MATCH ?6)) "
      "ORDER BY t.create_micros DESC, t.id DESC LIMIT ?7";
  // A search starts from the full-text index and sorts its matches: a rare word then costs
  // its few matches, not a walk over every row of the user looking for them.
  static constexpr char kSearch[] =
      "SELECT t.id, t.user_id, t.text, t.tags_json, t.create_micros, t.update_micros "
      "FROM (SELECT rowid AS id FROM thoughts_fts WHERE thoughts_fts MATCH ?6) f "
      "CROSS JOIN thoughts t ON t.id = f.id WHERE t.user_id = ?1 "
      "AND (t.create_micros, t.id) < (?3, ?4) "
      "AND (?5 = '' OR EXISTS (SELECT 1 FROM thought_tags g "
      "     WHERE g.user_id = ?1 AND g.tag = ?5 AND g.thought_id = t.id)) "
      "ORDER BY t.create_micros DESC, t.id DESC LIMIT ?7";
  static constexpr int kFewMatches = 1000;
  Reader reader = AcquireReader();
  bool few_matches = false;
  if (!query.fts_match.empty()) {
    SPINE_ASSIGN_OR_RETURN(auto count,
                           (*reader).Prepare("SELECT count(*) FROM (SELECT 1 FROM thoughts_fts "
                                             "WHERE thoughts_fts MATCH ?1 LIMIT ?2)"));
    count->BindText(1, query.fts_match);
    count->BindInt(2, kFewMatches + 1);
    SPINE_ASSIGN_OR_RETURN(bool row, count->Step());
    few_matches = row && count->ColumnInt(0) <= kFewMatches;
  }
  SPINE_ASSIGN_OR_RETURN(auto stmt, (*reader).Prepare(few_matches ? kSearch : kList));
  stmt->BindInt(1, query.user_id);
  // A row-value bound lets SQLite seek the index straight to the cursor; the first page starts
  // above every row.
  const PageCursor after = query.after.value_or(PageCursor{kNoCursor, kNoCursor});
  stmt->BindInt(3, after.create_micros);
  stmt->BindInt(4, after.id);
  stmt->BindText(5, query.tag);
  stmt->BindText(6, query.fts_match);
  stmt->BindInt(7, query.limit);
  std::vector<Thought> thoughts;
  while (true) {
    SPINE_ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row) break;
    SPINE_ASSIGN_OR_RETURN(Thought thought, ReadThought(*stmt));
    thoughts.push_back(std::move(thought));
  }
  return thoughts;
}

absl::StatusOr<User> SqliteAdapter::InsertUser(const User& user) {
  return WriteTransaction([&](SqliteConnection& db) -> absl::StatusOr<User> {
    SPINE_ASSIGN_OR_RETURN(auto insert,
                           db.Prepare("INSERT INTO users (username, role, password_hash, "
                                      "create_micros) VALUES (?1, ?2, ?3, ?4)"));
    insert->BindText(1, user.username);
    insert->BindText(2, user.role);
    insert->BindText(3, user.password_hash);
    insert->BindInt(4, user.create_micros);
    if (absl::Status status = insert->Run(); !status.ok()) {
      if (status.code() == absl::StatusCode::kAlreadyExists) {
        return absl::AlreadyExistsError(absl::StrCat("username '", user.username, "' is taken"));
      }
      return status;
    }
    User stored = user;
    stored.id = db.last_insert_rowid();
    return stored;
  });
}

absl::StatusOr<User> SqliteAdapter::GetUserById(int64_t id) {
  Reader reader = AcquireReader();
  return SelectOneUser(
      *reader, "WHERE id = ?1", [id](Statement& stmt) { stmt.BindInt(1, id); }, absl::StrCat(id));
}

absl::StatusOr<User> SqliteAdapter::GetUserByName(const std::string& username) {
  Reader reader = AcquireReader();
  return SelectOneUser(
      *reader, "WHERE username = ?1", [&username](Statement& stmt) { stmt.BindText(1, username); },
      absl::StrCat("'", username, "'"));
}

absl::StatusOr<std::vector<User>> SqliteAdapter::ListUsers() {
  Reader reader = AcquireReader();
  SPINE_ASSIGN_OR_RETURN(auto stmt, (*reader).Prepare(absl::StrCat(kSelectUser, "ORDER BY id")));
  std::vector<User> users;
  while (true) {
    SPINE_ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row) break;
    users.push_back(ReadUser(*stmt));
  }
  return users;
}

absl::StatusOr<User> SqliteAdapter::UpdateUser(int64_t id, const UserPatch& patch) {
  return WriteTransaction([&](SqliteConnection& db) -> absl::StatusOr<User> {
    auto by_id = [id](Statement& stmt) { stmt.BindInt(1, id); };
    SPINE_ASSIGN_OR_RETURN(const User before,
                           SelectOneUser(db, "WHERE id = ?1", by_id, absl::StrCat(id)));
    SPINE_ASSIGN_OR_RETURN(
        auto update,
        db.Prepare("UPDATE users SET role = COALESCE(?2, role), disabled = COALESCE(?3, disabled), "
                   "password_hash = COALESCE(?4, password_hash) WHERE id = ?1"));
    update->BindInt(1, id);
    if (patch.role) update->BindText(2, *patch.role);
    if (patch.disabled) update->BindInt(3, *patch.disabled ? 1 : 0);
    if (patch.password_hash) update->BindText(4, *patch.password_hash);
    SPINE_RETURN_IF_ERROR(update->Run());
    SPINE_RETURN_IF_ERROR(KeepAnAdmin(db, before));
    if (patch.revoke_refresh_tokens) {
      SPINE_ASSIGN_OR_RETURN(
          auto revoke, db.Prepare("UPDATE refresh_tokens SET revoked = 1 WHERE user_id = ?1"));
      revoke->BindInt(1, id);
      SPINE_RETURN_IF_ERROR(revoke->Run());
    }
    return SelectOneUser(db, "WHERE id = ?1", by_id, absl::StrCat(id));
  });
}

absl::Status SqliteAdapter::DeleteUser(int64_t id) {
  absl::StatusOr<bool> done = WriteTransaction([&](SqliteConnection& db) -> absl::StatusOr<bool> {
    SPINE_ASSIGN_OR_RETURN(
        const User before,
        SelectOneUser(
            db, "WHERE id = ?1", [id](Statement& stmt) { stmt.BindInt(1, id); }, absl::StrCat(id)));
    // Messages and tags go with their conversation and thought (ON DELETE CASCADE), refresh
    // tokens and API keys with the user; the audit log is never touched.
    for (const char* sql :
         {"DELETE FROM thoughts WHERE user_id = ?1", "DELETE FROM conversations WHERE user_id = ?1",
          "DELETE FROM pipelines WHERE user_id = ?1", "DELETE FROM runs WHERE user_id = ?1",
          "DELETE FROM users WHERE id = ?1"}) {
      SPINE_ASSIGN_OR_RETURN(auto stmt, db.Prepare(sql));
      stmt->BindInt(1, id);
      SPINE_RETURN_IF_ERROR(stmt->Run());
    }
    SPINE_RETURN_IF_ERROR(KeepAnAdmin(db, before));
    return true;
  });
  return done.status();
}

absl::StatusOr<ApiKey> SqliteAdapter::InsertApiKey(const ApiKey& key) {
  return WriteTransaction([&](SqliteConnection& db) -> absl::StatusOr<ApiKey> {
    SPINE_ASSIGN_OR_RETURN(
        auto insert,
        db.Prepare("INSERT INTO api_keys (user_id, name, scope, prefix, secret_hash, "
                   "create_micros, expire_micros) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"));
    insert->BindInt(1, key.user_id);
    insert->BindText(2, key.name);
    insert->BindText(3, key.scope);
    insert->BindText(4, key.prefix);
    insert->BindBlob(5, key.secret_hash);
    insert->BindInt(6, key.create_micros);
    insert->BindInt(7, key.expire_micros);
    SPINE_RETURN_IF_ERROR(insert->Run());
    ApiKey stored = key;
    stored.id = db.last_insert_rowid();
    stored.last_used_micros = 0;
    stored.revoke_micros = 0;
    return stored;
  });
}

absl::StatusOr<ApiKey> SqliteAdapter::GetApiKeyByPrefix(const std::string& prefix) {
  Reader reader = AcquireReader();
  SPINE_ASSIGN_OR_RETURN(auto stmt,
                         (*reader).Prepare(absl::StrCat(kSelectApiKey, "WHERE prefix = ?1")));
  stmt->BindText(1, prefix);
  SPINE_ASSIGN_OR_RETURN(bool row, stmt->Step());
  if (!row) return absl::NotFoundError("API key not found");
  return ReadApiKey(*stmt);
}

absl::StatusOr<std::vector<ApiKey>> SqliteAdapter::ListApiKeys(int64_t user_id) {
  Reader reader = AcquireReader();
  SPINE_ASSIGN_OR_RETURN(
      auto stmt, (*reader).Prepare(
                     absl::StrCat(kSelectApiKey, "WHERE ?1 = 0 OR user_id = ?1 ORDER BY id DESC")));
  stmt->BindInt(1, user_id);
  std::vector<ApiKey> keys;
  while (true) {
    SPINE_ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row) break;
    keys.push_back(ReadApiKey(*stmt));
  }
  return keys;
}

absl::StatusOr<ApiKey> SqliteAdapter::RevokeApiKey(int64_t user_id, int64_t id,
                                                   int64_t now_micros) {
  return WriteTransaction([&](SqliteConnection& db) -> absl::StatusOr<ApiKey> {
    SPINE_ASSIGN_OR_RETURN(auto revoke,
                           db.Prepare("UPDATE api_keys SET revoke_micros = ?3 WHERE id = ?1 AND "
                                      "(?2 = 0 OR user_id = ?2) AND revoke_micros = 0"));
    revoke->BindInt(1, id);
    revoke->BindInt(2, user_id);
    revoke->BindInt(3, now_micros);
    SPINE_RETURN_IF_ERROR(revoke->Run());
    SPINE_ASSIGN_OR_RETURN(
        auto select,
        db.Prepare(absl::StrCat(kSelectApiKey, "WHERE id = ?1 AND (?2 = 0 OR user_id = ?2)")));
    select->BindInt(1, id);
    select->BindInt(2, user_id);
    SPINE_ASSIGN_OR_RETURN(bool row, select->Step());
    if (!row) return absl::NotFoundError(absl::StrCat("API key ", id, " not found"));
    return ReadApiKey(*select);
  });
}

absl::Status SqliteAdapter::TouchApiKey(int64_t id, int64_t now_micros) {
  absl::StatusOr<bool> found = WriteTransaction([&](SqliteConnection& db) -> absl::StatusOr<bool> {
    SPINE_ASSIGN_OR_RETURN(
        auto touch, db.Prepare("UPDATE api_keys SET last_used_micros = MAX(last_used_micros, ?2) "
                               "WHERE id = ?1"));
    touch->BindInt(1, id);
    touch->BindInt(2, now_micros);
    SPINE_RETURN_IF_ERROR(touch->Run());
    return db.changes() > 0;
  });
  if (!found.ok()) return found.status();
  if (!*found) return absl::NotFoundError(absl::StrCat("API key ", id, " not found"));
  return absl::OkStatus();
}

absl::StatusOr<LoginLock> SqliteAdapter::RecordLoginFailure(const std::string& username,
                                                            int64_t now_micros,
                                                            const LockoutPolicy& policy) {
  return WriteTransaction([&](SqliteConnection& db) -> absl::StatusOr<LoginLock> {
    {
      SPINE_ASSIGN_OR_RETURN(
          auto forget,
          db.Prepare("DELETE FROM login_failures WHERE username = ?1 AND failure_micros <= ?2"));
      forget->BindText(1, username);
      forget->BindInt(2, now_micros - policy.window_micros);
      SPINE_RETURN_IF_ERROR(forget->Run());
    }
    {
      SPINE_ASSIGN_OR_RETURN(
          auto record,
          db.Prepare("INSERT INTO login_failures (username, failure_micros) VALUES (?1, ?2)"));
      record->BindText(1, username);
      record->BindInt(2, now_micros);
      SPINE_RETURN_IF_ERROR(record->Run());
    }
    SPINE_ASSIGN_OR_RETURN(LoginLock lock, ReadLock(db, username, now_micros, policy));
    if (!lock.locked && lock.failures_in_window >= policy.max_failures) {
      SPINE_ASSIGN_OR_RETURN(
          auto set_lock,
          db.Prepare("INSERT INTO login_locks (username, locked_until_micros) VALUES (?1, ?2) "
                     "ON CONFLICT (username) DO UPDATE SET locked_until_micros = "
                     "excluded.locked_until_micros"));
      set_lock->BindText(1, username);
      set_lock->BindInt(2, now_micros + policy.lock_micros);
      SPINE_RETURN_IF_ERROR(set_lock->Run());
      lock.locked = true;
      lock.locked_until_micros = now_micros + policy.lock_micros;
    }
    return lock;
  });
}

absl::StatusOr<LoginLock> SqliteAdapter::GetLoginLock(const std::string& username,
                                                      int64_t now_micros,
                                                      const LockoutPolicy& policy) {
  Reader reader = AcquireReader();
  return ReadLock(*reader, username, now_micros, policy);
}

absl::Status SqliteAdapter::ResetLoginFailures(const std::string& username) {
  absl::StatusOr<bool> done = WriteTransaction([&](SqliteConnection& db) -> absl::StatusOr<bool> {
    for (const char* sql : {"DELETE FROM login_failures WHERE username = ?1",
                            "DELETE FROM login_locks WHERE username = ?1"}) {
      SPINE_ASSIGN_OR_RETURN(auto stmt, db.Prepare(sql));
      stmt->BindText(1, username);
      SPINE_RETURN_IF_ERROR(stmt->Run());
    }
    return true;
  });
  return done.status();
}

absl::Status SqliteAdapter::InsertRefreshToken(const RefreshToken& token, int64_t now_micros) {
  absl::StatusOr<bool> done = WriteTransaction([&](SqliteConnection& db) -> absl::StatusOr<bool> {
    SPINE_ASSIGN_OR_RETURN(auto insert,
                           db.Prepare("INSERT INTO refresh_tokens (token_hash, family_id, user_id, "
                                      "expire_micros, create_micros) "
                                      "VALUES (?1, ?2, ?3, ?4, ?5)"));
    insert->BindBlob(1, token.token_hash);
    insert->BindText(2, token.family_id);
    insert->BindInt(3, token.user_id);
    insert->BindInt(4, token.expire_micros);
    insert->BindInt(5, now_micros);
    SPINE_RETURN_IF_ERROR(insert->Run());
    return true;
  });
  return done.status();
}

absl::StatusOr<RefreshToken> SqliteAdapter::RotateRefreshToken(const std::string& presented_hash,
                                                               const RefreshToken& successor,
                                                               int64_t now_micros) {
  // The reuse case must commit its revocation and still report failure, so the transaction
  // returns the outcome and the error is raised after COMMIT.
  struct Outcome {
    RefreshToken presented;
    absl::Status status;
  };
  absl::StatusOr<Outcome> outcome = WriteTransaction([&](SqliteConnection& db)
                                                         -> absl::StatusOr<Outcome> {
    Outcome result;
    int64_t used = 0;
    int64_t revoked = 0;
    {
      SPINE_ASSIGN_OR_RETURN(
          auto find,
          db.Prepare("SELECT family_id, user_id, expire_micros, used, revoked FROM refresh_tokens "
                     "WHERE token_hash = ?1"));
      find->BindBlob(1, presented_hash);
      SPINE_ASSIGN_OR_RETURN(bool row, find->Step());
      if (!row) {
        result.status = absl::UnauthenticatedError("unknown refresh token");
        return result;
      }
      result.presented = RefreshToken{.token_hash = presented_hash,
                                      .family_id = find->ColumnText(0),
                                      .user_id = find->ColumnInt(1),
                                      .expire_micros = find->ColumnInt(2)};
      used = find->ColumnInt(3);
      revoked = find->ColumnInt(4);
    }
    if (revoked != 0) {
      result.status = absl::UnauthenticatedError("refresh token revoked");
      return result;
    }
    if (used != 0) {
      SPINE_ASSIGN_OR_RETURN(
          auto revoke, db.Prepare("UPDATE refresh_tokens SET revoked = 1 WHERE family_id = ?1"));
      revoke->BindText(1, result.presented.family_id);
      SPINE_RETURN_IF_ERROR(revoke->Run());
      result.status = absl::PermissionDeniedError(
          "refresh token reused: its family is revoked (sign in again)");
      return result;
    }
    if (result.presented.expire_micros <= now_micros) {
      result.status = absl::UnauthenticatedError("refresh token expired");
      return result;
    }
    {
      SPINE_ASSIGN_OR_RETURN(
          auto mark, db.Prepare("UPDATE refresh_tokens SET used = 1 WHERE token_hash = ?1"));
      mark->BindBlob(1, presented_hash);
      SPINE_RETURN_IF_ERROR(mark->Run());
    }
    SPINE_ASSIGN_OR_RETURN(auto insert,
                           db.Prepare("INSERT INTO refresh_tokens (token_hash, family_id, user_id, "
                                      "expire_micros, create_micros) "
                                      "VALUES (?1, ?2, ?3, ?4, ?5)"));
    insert->BindBlob(1, successor.token_hash);
    insert->BindText(2, result.presented.family_id);
    insert->BindInt(3, result.presented.user_id);
    insert->BindInt(4, successor.expire_micros);
    insert->BindInt(5, now_micros);
    SPINE_RETURN_IF_ERROR(insert->Run());
    return result;
  });
  if (!outcome.ok()) return outcome.status();
  if (!outcome->status.ok()) return outcome->status;
  return outcome->presented;
}

absl::Status SqliteAdapter::RevokeRefreshFamily(const std::string& token_hash) {
  absl::StatusOr<bool> found = WriteTransaction([&](SqliteConnection& db) -> absl::StatusOr<bool> {
    SPINE_ASSIGN_OR_RETURN(
        auto revoke, db.Prepare("UPDATE refresh_tokens SET revoked = 1 WHERE family_id = "
                                "(SELECT family_id FROM refresh_tokens WHERE token_hash = ?1)"));
    revoke->BindBlob(1, token_hash);
    SPINE_RETURN_IF_ERROR(revoke->Run());
    return db.changes() > 0;
  });
  if (!found.ok()) return found.status();
  if (!*found) return absl::NotFoundError("unknown refresh token");
  return absl::OkStatus();
}

absl::StatusOr<std::vector<AuditEvent>> SqliteAdapter::AppendAuditEvents(
    const std::vector<AuditEvent>& events) {
  return WriteTransaction([&](SqliteConnection& db) -> absl::StatusOr<std::vector<AuditEvent>> {
    std::vector<AuditEvent> stored;
    stored.reserve(events.size());
    for (const AuditEvent& event : events) {
      SPINE_ASSIGN_OR_RETURN(
          auto insert,
          db.Prepare(
              "INSERT INTO audit_events (create_micros, actor, service, action, target, outcome, "
              "details_json, request_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"));
      insert->BindInt(1, event.create_micros);
      insert->BindText(2, event.actor);
      insert->BindText(3, event.service);
      insert->BindText(4, event.action);
      insert->BindText(5, event.target);
      insert->BindText(6, event.outcome);
      insert->BindText(7, event.details_json);
      insert->BindText(8, event.request_id);
      SPINE_RETURN_IF_ERROR(insert->Run());
      stored.push_back(event);
      stored.back().id = db.last_insert_rowid();
    }
    return stored;
  });
}

absl::StatusOr<std::vector<AuditEvent>> SqliteAdapter::ListAuditEvents(const AuditQuery& query) {
  static constexpr char kList[] =
      "SELECT id, create_micros, actor, service, action, target, outcome, details_json, request_id "
      "FROM audit_events WHERE (?1 = '' OR actor = ?1) "
      "AND (?2 = 0 OR create_micros >= ?3) AND (?4 = 0 OR create_micros < ?5) "
      "AND (?6 = 0 OR create_micros < ?7 OR (create_micros = ?7 AND id < ?8)) "
      "AND (?10 = '' OR action = ?10 OR "
      "     (substr(?10, -1) = '.' AND substr(action, 1, length(?10)) = ?10)) "
      "ORDER BY create_micros DESC, id DESC LIMIT ?9";
  Reader reader = AcquireReader();
  SPINE_ASSIGN_OR_RETURN(auto stmt, (*reader).Prepare(kList));
  stmt->BindText(1, query.actor);
  stmt->BindInt(2, query.start_micros ? 1 : 0);
  stmt->BindInt(3, query.start_micros.value_or(0));
  stmt->BindInt(4, query.end_micros ? 1 : 0);
  stmt->BindInt(5, query.end_micros.value_or(0));
  stmt->BindInt(6, query.after ? 1 : 0);
  stmt->BindInt(7, query.after ? query.after->create_micros : 0);
  stmt->BindInt(8, query.after ? query.after->id : 0);
  stmt->BindInt(9, query.limit);
  stmt->BindText(10, query.action);
  std::vector<AuditEvent> events;
  while (true) {
    SPINE_ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row) break;
    events.push_back(AuditEvent{.id = stmt->ColumnInt(0),
                                .create_micros = stmt->ColumnInt(1),
                                .actor = stmt->ColumnText(2),
                                .service = stmt->ColumnText(3),
                                .action = stmt->ColumnText(4),
                                .target = stmt->ColumnText(5),
                                .outcome = stmt->ColumnText(6),
                                .details_json = stmt->ColumnText(7),
                                .request_id = stmt->ColumnText(8)});
  }
  return events;
}

absl::Status SqliteAdapter::Backup(const std::string& destination) {
  // A read connection sees one consistent snapshot (WAL) while the writer carries on.
  Reader reader = AcquireReader();
  return (*reader).BackupTo(destination);
}

absl::Status SqliteAdapter::Ping() {
  Reader reader = AcquireReader();
  SPINE_ASSIGN_OR_RETURN(auto stmt, (*reader).Prepare("SELECT 1"));
  SPINE_ASSIGN_OR_RETURN(bool row, stmt->Step());
  if (!row) return absl::InternalError("SELECT 1 returned no row");
  return absl::OkStatus();
}

}  // namespace spine::storage
