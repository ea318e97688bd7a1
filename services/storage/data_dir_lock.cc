#include "services/storage/data_dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace spine::storage {

absl::StatusOr<std::unique_ptr<DataDirLock>> DataDirLock::Acquire(const std::string& data_dir) {
  const std::string path = data_dir + "/spine.db.lock";
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  }
  std::unique_ptr<DataDirLock> lock(new DataDirLock(fd));
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return absl::FailedPreconditionError(
          absl::StrCat("another process (a running spine-storage, or a restore) holds ", path,
                       "; stop it first"));
    }
    return absl::InternalError(absl::StrCat("cannot lock ", path, ": ", std::strerror(errno)));
  }
  return lock;
}

DataDirLock::~DataDirLock() { close(fd_); }

}  // namespace spine::storage
