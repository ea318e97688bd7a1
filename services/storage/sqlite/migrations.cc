#include "services/storage/sqlite/migrations.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/core/status.h"

namespace spine::storage {

const std::vector<Migration>& AllMigrations() {
  static const std::vector<Migration> migrations = {
      {1, "thoughts with tags and full-text search", R"sql(
CREATE TABLE thoughts (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id INTEGER NOT NULL,
  text TEXT NOT NULL,
  tags_json TEXT NOT NULL,
  create_micros INTEGER NOT NULL,
  update_micros INTEGER NOT NULL
);
CREATE INDEX thoughts_by_user_newest ON thoughts (user_id, create_micros DESC, id DESC);

CREATE TABLE thought_tags (
  thought_id INTEGER NOT NULL REFERENCES thoughts (id) ON DELETE CASCADE,
  user_id INTEGER NOT NULL,
  tag TEXT NOT NULL,
  PRIMARY KEY (thought_id, tag)
);
CREATE INDEX thought_tags_by_user_tag ON thought_tags (user_id, tag, thought_id);

CREATE VIRTUAL TABLE thoughts_fts USING fts5 (
  text, content = 'thoughts', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER thoughts_fts_insert AFTER INSERT ON thoughts BEGIN
  INSERT INTO thoughts_fts (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER thoughts_fts_delete AFTER DELETE ON thoughts BEGIN
  INSERT INTO thoughts_fts (thoughts_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER thoughts_fts_update AFTER UPDATE OF text ON thoughts BEGIN
  INSERT INTO thoughts_fts (thoughts_fts, rowid, text) VALUES ('delete', old.id, old.text);
  INSERT INTO thoughts_fts (rowid, text) VALUES (new.id, new.text);
END;
)sql"},
      {2, "users, refresh-token families and login lockout", R"sql(
CREATE TABLE users (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  username TEXT NOT NULL COLLATE NOCASE UNIQUE,
  role TEXT NOT NULL CHECK (role IN ('user', 'admin')),
  password_hash TEXT NOT NULL,
  create_micros INTEGER NOT NULL
);

CREATE TABLE refresh_tokens (
  token_hash BLOB PRIMARY KEY,
  family_id TEXT NOT NULL,
  user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  expire_micros INTEGER NOT NULL,
  used INTEGER NOT NULL DEFAULT 0,
  revoked INTEGER NOT NULL DEFAULT 0,
  create_micros INTEGER NOT NULL
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);

CREATE TABLE login_failures (
  username TEXT NOT NULL COLLATE NOCASE,
  failure_micros INTEGER NOT NULL
);
CREATE INDEX login_failures_by_username ON login_failures (username, failure_micros);

CREATE TABLE login_locks (
  username TEXT PRIMARY KEY COLLATE NOCASE,
  locked_until_micros INTEGER NOT NULL
);
)sql"},
      {3, "append-only audit log", R"sql(
CREATE TABLE audit_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  create_micros INTEGER NOT NULL,
  actor TEXT NOT NULL,
  service TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  outcome TEXT NOT NULL,
  details_json TEXT NOT NULL,
  request_id TEXT NOT NULL
);
CREATE INDEX audit_events_by_time ON audit_events (create_micros DESC, id DESC);
CREATE INDEX audit_events_by_actor ON audit_events (actor, create_micros DESC, id DESC);
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events BEGIN
  SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events BEGIN
  SELECT RAISE(ABORT, 'the audit log is append-only');
END;
)sql"},
      {4, "conversations, pipelines and runs", R"sql(
CREATE TABLE conversations (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id INTEGER NOT NULL,
  model TEXT NOT NULL,
  title TEXT NOT NULL,
  system TEXT NOT NULL,
  state TEXT NOT NULL,
  create_micros INTEGER NOT NULL
);
CREATE INDEX conversations_by_user_newest ON conversations (user_id, create_micros DESC, id DESC);

CREATE TABLE conversation_messages (
  conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  seq INTEGER NOT NULL,
  role TEXT NOT NULL,
  content TEXT NOT NULL,
  create_micros INTEGER NOT NULL,
  PRIMARY KEY (conversation_id, seq)
) WITHOUT ROWID;

CREATE TABLE pipelines (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id INTEGER NOT NULL,
  name TEXT NOT NULL,
  definition_json TEXT NOT NULL,
  create_micros INTEGER NOT NULL
);
CREATE INDEX pipelines_by_user_newest ON pipelines (user_id, create_micros DESC, id DESC);

-- A run keeps its pipeline id after the pipeline is deleted: it is history.
CREATE TABLE runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id INTEGER NOT NULL,
  pipeline_id INTEGER NOT NULL,
  state TEXT NOT NULL,
  idempotency_key TEXT NOT NULL,
  payload BLOB NOT NULL,
  create_micros INTEGER NOT NULL,
  update_micros INTEGER NOT NULL
);
CREATE UNIQUE INDEX runs_by_idempotency_key ON runs (user_id, idempotency_key)
  WHERE idempotency_key <> '';
CREATE INDEX runs_by_user_newest ON runs (user_id, create_micros DESC, id DESC);
CREATE INDEX runs_by_state ON runs (state, create_micros DESC, id DESC);
)sql"},
      {5, "disabled users and API keys", R"sql(
ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;

CREATE TABLE api_keys (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  scope TEXT NOT NULL CHECK (scope IN ('read', 'write')),
  prefix TEXT NOT NULL UNIQUE,
  secret_hash BLOB NOT NULL,
  create_micros INTEGER NOT NULL,
  expire_micros INTEGER NOT NULL,
  last_used_micros INTEGER NOT NULL DEFAULT 0,
  revoke_micros INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX api_keys_by_user_newest ON api_keys (user_id, id DESC);
)sql"},
  };
  return migrations;
}

absl::StatusOr<int> SchemaVersion(SqliteConnection& connection) {
  SPINE_RETURN_IF_ERROR(
      connection.Exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                      "description TEXT NOT NULL, applied_micros INTEGER NOT NULL)"));
  SPINE_ASSIGN_OR_RETURN(
      auto stmt, connection.Prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"));
  SPINE_ASSIGN_OR_RETURN(bool row, stmt->Step());
  return row ? static_cast<int>(stmt->ColumnInt(0)) : 0;
}

absl::Status Migrate(SqliteConnection& connection, const std::vector<Migration>& migrations) {
  SPINE_ASSIGN_OR_RETURN(int current, SchemaVersion(connection));
  const int latest = migrations.empty() ? 0 : migrations.back().version;
  if (current > latest) {
    return absl::FailedPreconditionError(absl::StrCat("the database is at schema version ", current,
                                                      ", newer than this binary's ", latest,
                                                      "; run a newer spine-storage"));
  }
  for (const Migration& migration : migrations) {
    if (migration.version <= current) continue;
    SPINE_RETURN_IF_ERROR(connection.Exec("BEGIN IMMEDIATE"));
    absl::Status status = connection.Exec(migration.sql);
    if (status.ok()) {
      SPINE_ASSIGN_OR_RETURN(
          auto record, connection.Prepare("INSERT INTO schema_migrations (version, description, "
                                          "applied_micros) VALUES (?1, ?2, ?3)"));
      record->BindInt(1, migration.version);
      record->BindText(2, migration.description);
      record->BindInt(3, absl::ToUnixMicros(absl::Now()));
      status = record->Run();
    }
    if (status.ok()) status = connection.Exec("COMMIT");
    if (!status.ok()) {
      (void)connection.Exec("ROLLBACK");
      return absl::Status(status.code(),
                          absl::StrCat("migration ", migration.version, " (", migration.description,
                                       "): ", status.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace spine::storage
