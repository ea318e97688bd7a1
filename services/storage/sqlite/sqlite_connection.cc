#include "services/storage/sqlite/sqlite_connection.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "libs/core/status.h"
#include "libs/rpc/error_info.h"

namespace spine::storage {

absl::Status SqliteError(int code, absl::string_view what) {
  const std::string message = absl::StrCat(what, ": ", sqlite3_errstr(code));
  switch (code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::UnavailableError(message);
    case SQLITE_CONSTRAINT:
      return absl::AlreadyExistsError(message);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::DataLossError(message);
    case SQLITE_FULL:
      // The operator's problem, not the caller's: 503 (retry later) named DISK_FULL, rather than
      // RESOURCE_EXHAUSTED, which the edge answers as 429 as if the caller had sent too much.
      return rpc::WithErrorInfo(absl::UnavailableError(absl::StrCat("disk full: ", message)),
                                "DISK_FULL");
    default:
      return absl::InternalError(message);
  }
}

Statement::~Statement() { Reset(); }

void Statement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

void Statement::BindInt(int index, int64_t value) { sqlite3_bind_int64(stmt_, index, value); }

void Statement::BindText(int index, absl::string_view value) {
  sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
}

void Statement::BindBlob(int index, absl::string_view bytes) {
  sqlite3_bind_blob(stmt_, index, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
}

std::string Statement::ColumnBlob(int column) const {
  const void* bytes = sqlite3_column_blob(stmt_, column);
  const int size = sqlite3_column_bytes(stmt_, column);
  return bytes == nullptr ? std::string() : std::string(static_cast<const char*>(bytes), size);
}

absl::StatusOr<bool> Statement::Step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqliteError(rc, "database step");
}

absl::Status Statement::Run() {
  absl::StatusOr<bool> row = Step();
  if (!row.ok()) return row.status();
  return absl::OkStatus();
}

int64_t Statement::ColumnInt(int column) const { return sqlite3_column_int64(stmt_, column); }

std::string Statement::ColumnText(int column) const {
  const auto* text = sqlite3_column_text(stmt_, column);
  const int size = sqlite3_column_bytes(stmt_, column);
  return text == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(text), size);
}

absl::StatusOr<std::unique_ptr<SqliteConnection>> SqliteConnection::Open(const std::string& path,
                                                                         bool read_only) {
  sqlite3* db = nullptr;
  const int flags =
      (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
      SQLITE_OPEN_NOMUTEX;
  const int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  std::unique_ptr<SqliteConnection> connection(new SqliteConnection(db));
  if (rc != SQLITE_OK) return SqliteError(rc, "cannot open the database");
  sqlite3_extended_result_codes(db, 1);
  // Waits for the writer's lock instead of failing at once (readers never wait in WAL mode).
  sqlite3_busy_timeout(db, 5000);
  if (!read_only) {
    // WAL: readers never block the writer. synchronous=FULL: COMMIT returns only after the WAL
    // is fsynced, so an acknowledged write survives power loss and OS crashes, not only a killed
    // process. GroupCommit shares that fsync among concurrent writes.
    SPINE_RETURN_IF_ERROR(connection->Exec("PRAGMA journal_mode=WAL"));
    SPINE_RETURN_IF_ERROR(connection->Exec("PRAGMA synchronous=FULL"));
  }
  SPINE_RETURN_IF_ERROR(connection->Exec("PRAGMA foreign_keys=ON"));
  return connection;
}

SqliteConnection::~SqliteConnection() {
  for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
  sqlite3_close_v2(db_);
}

absl::Status SqliteConnection::Exec(absl::string_view sql) {
  char* error = nullptr;
  const int rc = sqlite3_exec(db_, std::string(sql).c_str(), nullptr, nullptr, &error);
  sqlite3_free(error);
  if (rc != SQLITE_OK) return SqliteError(rc, "database exec");
  return absl::OkStatus();
}

absl::Status SqliteConnection::BackupTo(const std::string& destination) {
  // Claim the name atomically (sqlite3_open_v2 ignores SQLITE_OPEN_EXCLUSIVE): a backup never
  // overwrites a file. An empty file is a valid empty database for SQLite to fill.
  const int fd = open(destination.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int error = errno;
    if (error == EEXIST) {
      return absl::AlreadyExistsError(absl::StrCat("backup ", destination, " already exists"));
    }
    return absl::InternalError(
        absl::StrCat("cannot create the backup ", destination, ": ", std::strerror(error)));
  }
  close(fd);
  absl::Status copied = CopyInto(destination);
  // A half-written copy would hold the name forever and look like a backup: remove it.
  if (!copied.ok()) unlink(destination.c_str());
  return copied;
}

absl::Status SqliteConnection::CopyInto(const std::string& destination) {
  sqlite3* target = nullptr;
  int rc = sqlite3_open_v2(destination.c_str(), &target, SQLITE_OPEN_READWRITE, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_close_v2(target);
    return SqliteError(rc, absl::StrCat("cannot open the backup ", destination));
  }
  sqlite3_backup* backup = sqlite3_backup_init(target, "main", db_, "main");
  if (backup == nullptr) {
    rc = sqlite3_errcode(target);
    sqlite3_close_v2(target);
    return SqliteError(rc, "cannot start the backup");
  }
  // Pages in batches so a large copy lets writers in between; a busy source is retried.
  do {
    rc = sqlite3_backup_step(backup, 256);
  } while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
  sqlite3_backup_finish(backup);
  const int close_rc = sqlite3_close_v2(target);
  if (rc != SQLITE_DONE) return SqliteError(rc, "backup");
  if (close_rc != SQLITE_OK) return SqliteError(close_rc, "closing the backup");
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Statement>> SqliteConnection::Prepare(const std::string& sql) {
  auto it = statements_.find(sql);
  if (it == statements_.end()) {
    sqlite3_stmt* stmt = nullptr;
    const int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()),
                                      SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) return SqliteError(rc, "database prepare");
    it = statements_.emplace(sql, stmt).first;
  }
  return std::make_unique<Statement>(it->second);
}

}  // namespace spine::storage
