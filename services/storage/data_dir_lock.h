// DataDirLock: one process at a time on a data directory. spine-storage holds it while it
// serves; an offline restore takes it first, so it can never swap the database under a running
// service (nor two services share one database).
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace spine::storage {

class DataDirLock {
 public:
  // Takes the exclusive lock on `data_dir`/spine.db.lock (flock, released when the process
  // exits however it exits). FAILED_PRECONDITION when another process holds it.
  static absl::StatusOr<std::unique_ptr<DataDirLock>> Acquire(const std::string& data_dir);
  ~DataDirLock();
  DataDirLock(const DataDirLock&) = delete;
  DataDirLock& operator=(const DataDirLock&) = delete;

 private:
  explicit DataDirLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace spine::storage
