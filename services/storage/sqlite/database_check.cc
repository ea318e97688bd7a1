#include "services/storage/sqlite/database_check.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libs/core/status.h"
#include "services/storage/sqlite/migrations.h"
#include "services/storage/sqlite/sqlite_connection.h"

namespace spine::storage {

absl::StatusOr<int> CheckDatabaseFile(const std::string& path) {
  auto connection = SqliteConnection::Open(path, /*read_only=*/false);
  if (!connection.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("not a readable database: ", connection.status().message()));
  }
  // integrity_check answers one row "ok", or up to 100 rows describing the damage.
  auto check = (*connection)->Prepare("PRAGMA integrity_check");
  if (!check.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("not a database: ", check.status().message()));
  }
  std::vector<std::string> problems;
  for (;;) {
    absl::StatusOr<bool> row = (*check)->Step();
    if (!row.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("integrity check failed: ", row.status().message()));
    }
    if (!*row) break;
    if (const std::string line = (*check)->ColumnText(0); line != "ok" && problems.size() < 5) {
      problems.push_back(line);
    }
  }
  if (!problems.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("integrity check failed: ", absl::StrJoin(problems, "; ")));
  }
  SPINE_ASSIGN_OR_RETURN(
      auto tables, (*connection)
                       ->Prepare("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND "
                                 "name IN ('schema_migrations', 'audit_events')"));
  SPINE_ASSIGN_OR_RETURN(bool row, tables->Step());
  if (!row || tables->ColumnInt(0) != 2) {
    return absl::FailedPreconditionError(
        "not a Spine database: no schema_migrations or audit_events table");
  }
  SPINE_ASSIGN_OR_RETURN(const int version, SchemaVersion(**connection));
  const int latest = AllMigrations().back().version;
  if (version < 1 || version > latest) {
    return absl::FailedPreconditionError(absl::StrCat("the database is at schema version ", version,
                                                      "; this binary knows 1..", latest));
  }
  return version;
}

}  // namespace spine::storage
