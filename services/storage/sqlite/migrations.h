// Schema migrations of the SQLite database: numbered, each applied in its own transaction at
// start and recorded in `schema_migrations`.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "services/storage/sqlite/sqlite_connection.h"

namespace spine::storage {

struct Migration {
  int version;
  std::string description;
  std::string sql;
};

// All migrations, in order; versions are 1, 2, 3, ... without gaps.
const std::vector<Migration>& AllMigrations();

// Brings the database up to the latest version. A database recorded at a newer version than
// this binary knows is refused with FAILED_PRECONDITION (an older binary must not touch it).
absl::Status Migrate(SqliteConnection& connection, const std::vector<Migration>& migrations);

// The highest applied version (0 for an empty database).
absl::StatusOr<int> SchemaVersion(SqliteConnection& connection);

}  // namespace spine::storage
