// CheckDatabaseFile: whether a file is a sound Spine database that this binary can open — what
// an offline restore asks of a backup before it replaces the live database with it.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace spine::storage {

// Runs SQLite's full integrity check on the database at `path` and reads its schema version.
// FAILED_PRECONDITION, saying why, when the file is not a database, is damaged, is not a Spine
// database (no recorded migrations), or is at a schema newer than this binary knows. The file
// must be one the caller may write: opening it can replay and remove a write-ahead log.
absl::StatusOr<int> CheckDatabaseFile(const std::string& path);

}  // namespace spine::storage
