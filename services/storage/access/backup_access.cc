#include "services/storage/access/backup_access.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/algorithm/container.h"
#include "absl/strings/str_cat.h"
#include "libs/core/status.h"

namespace spine::storage {

namespace {

bool IsBackupName(const std::string& file_name) {
  const bool chars_ok = absl::c_all_of(file_name, [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
  return !file_name.empty() && file_name.size() <= 64 && file_name.front() != '.' && chars_ok;
}

absl::Status CheckBackupName(const std::string& file_name) {
  if (IsBackupName(file_name)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      "fileName: 1..64 characters of A-Z, a-z, 0-9, '.', '_' or '-', not starting with '.'");
}

}  // namespace

BackupReader::~BackupReader() { close(fd_); }

absl::StatusOr<std::string> BackupReader::Read(size_t max_bytes) {
  std::string chunk(max_bytes, '\0');
  for (;;) {
    const ssize_t n = read(fd_, chunk.data(), chunk.size());
    if (n >= 0) {
      chunk.resize(static_cast<size_t>(n));
      return chunk;
    }
    if (errno != EINTR) {
      return absl::InternalError(absl::StrCat("cannot read the backup: ", std::strerror(errno)));
    }
  }
}

absl::StatusOr<std::vector<BackupFileInfo>> BackupAccess::List() const {
  std::vector<BackupFileInfo> files;
  std::error_code ec;
  std::filesystem::directory_iterator it(directory_, ec);
  if (ec == std::errc::no_such_file_or_directory) return files;
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot list the backup directory ", directory_, ": ", ec.message()));
  }
  for (const std::filesystem::directory_entry& entry : it) {
    const std::string name = entry.path().filename().string();
    struct stat st {};
    if (!IsBackupName(name) || lstat(entry.path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
      continue;
    }
    files.push_back({.file_name = name,
                     .size_bytes = static_cast<int64_t>(st.st_size),
                     .modify_micros = int64_t{st.st_mtim.tv_sec} * 1000000 +
                                      int64_t{st.st_mtim.tv_nsec} / 1000});
  }
  std::sort(files.begin(), files.end(), [](const BackupFileInfo& a, const BackupFileInfo& b) {
    return a.modify_micros != b.modify_micros ? a.modify_micros > b.modify_micros
                                              : a.file_name < b.file_name;
  });
  return files;
}

absl::StatusOr<std::unique_ptr<BackupReader>> BackupAccess::Open(
    const std::string& file_name) const {
  SPINE_RETURN_IF_ERROR(CheckBackupName(file_name));
  const std::string path = absl::StrCat(directory_, "/", file_name);
  // O_NOFOLLOW and the regular-file check: nothing planted in the directory leads elsewhere.
  const int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ENOENT || errno == ELOOP) {
      return absl::NotFoundError(absl::StrCat("backup '", file_name, "' not found"));
    }
    return absl::InternalError(
        absl::StrCat("cannot open the backup ", path, ": ", std::strerror(errno)));
  }
  struct stat st {};
  const bool regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  // The reader owns the descriptor from here on, also when it is not a backup after all.
  auto reader = std::make_unique<BackupReader>(fd, static_cast<int64_t>(st.st_size));
  if (!regular) return absl::NotFoundError(absl::StrCat("backup '", file_name, "' not found"));
  // O_NONBLOCK only kept open() from hanging on a FIFO; a regular file reads the same without.
  fcntl(fd, F_SETFL, 0);
  return reader;
}

absl::StatusOr<int64_t> BackupAccess::Backup(const std::string& file_name) {
  SPINE_RETURN_IF_ERROR(CheckBackupName(file_name));
  std::error_code ec;
  std::filesystem::create_directories(directory_, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot create the backup directory ", directory_, ": ", ec.message()));
  }
  // No existence check here: it would race with a concurrent backup of the same name. The
  // adapter creates the file exclusively and answers ALREADY_EXISTS itself.
  const std::string path = absl::StrCat(directory_, "/", file_name);
  SPINE_RETURN_IF_ERROR(adapter_.Backup(path));
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot read the size of the backup ", path, ": ", ec.message()));
  }
  return static_cast<int64_t>(size);
}

}  // namespace spine::storage
