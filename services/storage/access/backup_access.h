// BackupAccess: online copies of the live database into the backups directory
// (SPINE_DATA_DIR/backups), under names that can never leave it and never overwrite a file.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "services/storage/storage_adapter.h"

namespace spine::storage {

class BackupAccess {
 public:
  BackupAccess(StorageAdapter& adapter, std::string directory)
      : adapter_(adapter), directory_(std::move(directory)) {}

  // Copies the database to `directory`/`file_name`. The name is 1..64 of [A-Za-z0-9._-], not
  // starting with '.'; a name already taken (even by a backup running at the same moment) is
  // ALREADY_EXISTS, decided by the adapter creating the file exclusively. Returns the size of the
  // copy in bytes. Errors name the path and the operating system's reason.
  absl::StatusOr<int64_t> Backup(const std::string& file_name);

 private:
  StorageAdapter& adapter_;
  const std::string directory_;
};

}  // namespace spine::storage
