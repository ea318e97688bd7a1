// BackupAccess: online copies of the live database into the backups directory
// (SPINE_DATA_DIR/backups), under names that can never leave it and never overwrite a file.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "services/storage/storage_adapter.h"

namespace spine::storage {

struct BackupFileInfo {
  std::string file_name{};
  int64_t size_bytes = 0;
  int64_t modify_micros = 0;  // when the file was last written
};

// One backup file open for reading. Not thread-safe; closes the file when destroyed.
class BackupReader {
 public:
  explicit BackupReader(int fd, int64_t size) : fd_(fd), size_(size) {}
  ~BackupReader();
  BackupReader(const BackupReader&) = delete;
  BackupReader& operator=(const BackupReader&) = delete;

  int64_t size() const { return size_; }
  // The next at most `max_bytes` bytes; empty at the end of the file.
  absl::StatusOr<std::string> Read(size_t max_bytes);

 private:
  int fd_;
  int64_t size_;
};

class BackupAccess {
 public:
  BackupAccess(StorageAdapter& adapter, std::string directory)
      : adapter_(adapter), directory_(std::move(directory)) {}

  // Copies the database to `directory`/`file_name`. The name is 1..64 of [A-Za-z0-9._-], not
  // starting with '.'; a name already taken (even by a backup running at the same moment) is
  // ALREADY_EXISTS, decided by the adapter creating the file exclusively. Returns the size of the
  // copy in bytes. Errors name the path and the operating system's reason.
  absl::StatusOr<int64_t> Backup(const std::string& file_name);

  // The regular files of the directory with a backup's name, newest first; none when the
  // directory does not exist yet. Anything else there (a symlink, a folder) is not a backup.
  absl::StatusOr<std::vector<BackupFileInfo>> List() const;

  // Opens one backup for reading. INVALID_ARGUMENT for a name Backup would refuse (so no path
  // leaves the directory), NOT_FOUND unless it is a regular file there (symlinks not followed).
  absl::StatusOr<std::unique_ptr<BackupReader>> Open(const std::string& file_name) const;

 private:
  StorageAdapter& adapter_;
  const std::string directory_;
};

}  // namespace spine::storage
