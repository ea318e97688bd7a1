// SqliteConnection: one sqlite3 handle with its prepared-statement cache.
//
// Not thread-safe: the SqliteAdapter hands each connection to one thread at a time.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace spine::storage {

// A cached statement, reset and unbound when the Statement goes out of scope.
class Statement {
 public:
  explicit Statement(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Parameters are 1-based, as in SQLite. Every value reaches SQL only through these.
  void BindInt(int index, int64_t value);
  void BindText(int index, absl::string_view value);
  void BindBlob(int index, absl::string_view bytes);
  // SQLITE_ROW → true, SQLITE_DONE → false, anything else → an error naming the code.
  absl::StatusOr<bool> Step();
  absl::Status Run();  // Step() expecting SQLITE_DONE
  // Makes the statement ready to bind and run again.
  void Reset();

  int64_t ColumnInt(int column) const;
  std::string ColumnText(int column) const;
  std::string ColumnBlob(int column) const;

 private:
  sqlite3_stmt* stmt_;
};

class SqliteConnection {
 public:
  // Opens (creating if `create`) the database file with Spine's pragmas.
  static absl::StatusOr<std::unique_ptr<SqliteConnection>> Open(const std::string& path,
                                                                bool read_only);
  ~SqliteConnection();
  SqliteConnection(const SqliteConnection&) = delete;
  SqliteConnection& operator=(const SqliteConnection&) = delete;

  // Runs SQL without parameters (schema, pragmas, BEGIN/COMMIT).
  absl::Status Exec(absl::string_view sql);
  // A statement from the cache (prepared on first use).
  absl::StatusOr<std::unique_ptr<Statement>> Prepare(const std::string& sql);
  int64_t last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }
  int changes() const { return sqlite3_changes(db_); }
  // False once SQLite has ended the transaction on its own (it may roll back on a full disk or
  // an I/O error), so the caller knows its earlier writes are gone.
  bool in_transaction() const { return sqlite3_get_autocommit(db_) == 0; }
  // Copies this database into a new file at `destination` with SQLite's online backup API
  // (see StorageAdapter::Backup for the contract).
  absl::Status BackupTo(const std::string& destination);

 private:
  // The copy itself, into the already claimed (empty) file at `destination`.
  absl::Status CopyInto(const std::string& destination);
  explicit SqliteConnection(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  std::map<std::string, sqlite3_stmt*> statements_;
};

// An error status for an SQLite result code, without SQL text or file paths in the message.
absl::Status SqliteError(int code, absl::string_view what);

}  // namespace spine::storage
