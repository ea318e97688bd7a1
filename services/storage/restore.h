// RestoreDatabase: the offline restore of a backup (`spine-storage restore <file>`).
//
// With spine-storage stopped: takes the data directory's lock (refused while a service runs on
// it), copies the backup beside the database, checks the copy (SQLite's integrity check, a
// Spine schema this binary knows), keeps the current database as
// spine.db.before-restore-<time> (with its write-ahead log), puts the copy in its place, and
// records "storage.restore" in the restored database's audit log. Nothing is replaced unless
// every check passes; a refused restore is audited in the current database instead.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "libs/core/clock.h"

namespace spine::storage {

struct RestoreResult {
  std::string source{};            // the backup file restored
  int64_t size_bytes = 0;          // its size
  int schema_version = 0;          // the backup's schema version (migrated on open if older)
  std::string previous_kept_as{};  // where the replaced database was moved; empty if none
};

// `backup` is a file name in `data_dir`/backups/ or a path. `actor` is recorded as who did it.
absl::StatusOr<RestoreResult> RestoreDatabase(const std::string& data_dir,
                                              const std::string& backup, const std::string& actor,
                                              const Clock& clock);

}  // namespace spine::storage
