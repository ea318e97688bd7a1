#include "services/storage/access/backup_access.h"

#include <filesystem>
#include <system_error>

#include "absl/algorithm/container.h"
#include "absl/strings/str_cat.h"
#include "libs/core/status.h"

namespace spine::storage {

absl::StatusOr<int64_t> BackupAccess::Backup(const std::string& file_name) {
  const bool chars_ok = absl::c_all_of(file_name, [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
  if (file_name.empty() || file_name.size() > 64 || file_name.front() == '.' || !chars_ok) {
    return absl::InvalidArgumentError(
        "fileName: 1..64 characters of A-Z, a-z, 0-9, '.', '_' or '-', not starting with '.'");
  }
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
