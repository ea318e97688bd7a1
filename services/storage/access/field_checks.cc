#include "services/storage/access/field_checks.h"

#include "absl/algorithm/container.h"
#include "absl/strings/str_cat.h"
#include "services/storage/thought_validation.h"

namespace spine::storage {

absl::Status CheckOwner(int64_t user_id) {
  if (user_id <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("userId: ", user_id, " is not a user id"));
  }
  return absl::OkStatus();
}

absl::Status CheckRecordId(absl::string_view kind, int64_t id) {
  if (id <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("id: ", id, " is not a ", kind, " id"));
  }
  return absl::OkStatus();
}

absl::Status CheckText(absl::string_view field, absl::string_view value, size_t min_chars,
                       size_t max_chars, bool single_line) {
  const Utf8Check utf8 = CheckUtf8(value);
  if (!utf8.valid) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": not valid UTF-8 (byte ", utf8.bad_offset, ")"));
  }
  if (utf8.code_points < min_chars || utf8.code_points > max_chars) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": ", utf8.code_points, " characters, must be ", min_chars, "..", max_chars));
  }
  if (single_line && absl::c_any_of(value, [](char c) {
        return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
      })) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": contains a control character"));
  }
  return absl::OkStatus();
}

absl::Status CheckBytes(absl::string_view field, absl::string_view value, size_t max_bytes) {
  if (value.size() > max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", value.size(), " bytes, at most ", max_bytes));
  }
  return absl::OkStatus();
}

absl::Status CheckUsername(absl::string_view username) {
  const bool length_ok = username.size() >= 3 && username.size() <= 32;
  const bool chars_ok = absl::c_all_of(username, [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
  });
  if (!length_ok || !chars_ok) {
    return absl::InvalidArgumentError(
        "username: must be 3..32 characters of a-z, 0-9, '_', '.' or '-'");
  }
  return absl::OkStatus();
}

absl::Status CheckLookupName(absl::string_view username) {
  if (username.empty() || username.size() > 64) {
    return absl::InvalidArgumentError("username: must be 1..64 characters");
  }
  return absl::OkStatus();
}

absl::Status CheckTokenHash(absl::string_view field, absl::string_view hash) {
  if (hash.size() != 32) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": must be a 32-byte SHA-256, got ", hash.size(), " bytes"));
  }
  return absl::OkStatus();
}

}  // namespace spine::storage
