#include "services/storage/restore.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "libs/core/status.h"
#include "nlohmann/json.hpp"
#include "services/storage/data_dir_lock.h"
#include "services/storage/sqlite/database_check.h"
#include "services/storage/sqlite/sqlite_adapter.h"

namespace spine::storage {
namespace {

namespace fs = std::filesystem;

absl::Status FsError(absl::string_view what, const std::string& path, const std::error_code& ec) {
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", ec.message()));
}

// Makes a file's contents, or a directory's entries, durable before the next step relies on
// them.
absl::Status Sync(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot open ", path, " to sync it"));
  const int rc = fsync(fd);
  close(fd);
  if (rc != 0) return absl::InternalError(absl::StrCat("cannot sync ", path));
  return absl::OkStatus();
}

// Removes `path` and the -wal and -shm files SQLite keeps beside it.
void RemoveDatabaseFiles(const std::string& path) {
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path + suffix, ec);
}

// Appends one "storage.restore" event to the database at `db`.
absl::Status Audit(const std::string& db, const std::string& actor, const std::string& backup,
                   const absl::Status& outcome, nlohmann::json details, const Clock& clock) {
  SPINE_ASSIGN_OR_RETURN(auto adapter, SqliteAdapter::Open(db, 1));
  if (!outcome.ok()) details["error"] = std::string(outcome.message());
  return adapter
      ->AppendAuditEvent(AuditEvent{
          .create_micros = absl::ToUnixMicros(clock.Now()),
          .actor = actor,
          .service = "storage",
          .action = "storage.restore",
          .target = absl::StrCat("backup:", fs::path(backup).filename().string().substr(0, 64)),
          .outcome = outcome.ok() ? "ok" : "error",
          .details_json = details.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)})
      .status();
}

}  // namespace

absl::StatusOr<RestoreResult> RestoreDatabase(const std::string& data_dir,
                                              const std::string& backup, const std::string& actor,
                                              const Clock& clock) {
  SPINE_ASSIGN_OR_RETURN(std::unique_ptr<DataDirLock> lock, DataDirLock::Acquire(data_dir));
  const std::string live = data_dir + "/spine.db";
  RestoreResult result;
  result.source = absl::StrContains(backup, '/') ? backup : data_dir + "/backups/" + backup;
  struct stat st {};
  if (stat(result.source.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return absl::NotFoundError(absl::StrCat("backup ", result.source, ": no such file"));
  }
  result.size_bytes = static_cast<int64_t>(st.st_size);

  // The copy is checked, not the backup itself: opening a database may change its files, and
  // the copy is what goes live.
  const std::string staged = live + ".restoring";
  RemoveDatabaseFiles(staged);  // a previous restore that was interrupted; we hold the lock
  std::error_code ec;
  if (!fs::copy_file(result.source, staged, ec))
    return FsError("cannot copy the backup to", staged, ec);
  SPINE_RETURN_IF_ERROR(Sync(staged));
  absl::StatusOr<int> version = CheckDatabaseFile(staged);
  if (!version.ok()) {
    RemoveDatabaseFiles(staged);
    const absl::Status refused = absl::FailedPreconditionError(absl::StrCat(
        "backup ", result.source, " refused, nothing was changed: ", version.status().message()));
    if (fs::exists(live, ec)) {
      (void)Audit(live, actor, result.source, refused, {{"sizeBytes", result.size_bytes}}, clock);
    }
    return refused;
  }
  result.schema_version = *version;

  if (fs::exists(live, ec)) {
    result.previous_kept_as =
        absl::StrCat(live, ".before-restore-",
                     absl::FormatTime("%Y%m%dT%H%M%SZ", clock.Now(), absl::UTCTimeZone()));
    // The log may hold the last commits of a database that was not closed cleanly: it moves
    // with its database, under the name SQLite looks for.
    for (const char* suffix : {"", "-wal"}) {
      if (!fs::exists(live + suffix, ec)) continue;
      fs::rename(live + suffix, result.previous_kept_as + suffix, ec);
      if (ec)
        return FsError("cannot move the current database aside to", result.previous_kept_as, ec);
    }
    fs::remove(live + "-shm", ec);
  }
  fs::rename(staged, live, ec);
  if (ec) return FsError("cannot move the restored database to", live, ec);
  SPINE_RETURN_IF_ERROR(Sync(data_dir));

  SPINE_RETURN_IF_ERROR(
      Audit(live, actor, result.source, absl::OkStatus(),
            {{"sizeBytes", result.size_bytes},
             {"schemaVersion", result.schema_version},
             {"previousKeptAs", fs::path(result.previous_kept_as).filename().string()}},
            clock));
  return result;
}

}  // namespace spine::storage
