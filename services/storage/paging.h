// Page-size and next-page-token rules shared by every newest-first listing of the data access
// classes (services/storage/access/).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "services/storage/page_token.h"

namespace spine::storage {

inline constexpr int kDefaultPageSize = 50;
inline constexpr int kMaxPageSize = 500;

// The requested page size, 0 meaning the default; INVALID_ARGUMENT outside 0..500.
inline absl::StatusOr<int> PageSize(int requested) {
  if (requested < 0 || requested > kMaxPageSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("pageSize: ", requested, ", must be between 1 and ", kMaxPageSize));
  }
  return requested == 0 ? kDefaultPageSize : requested;
}

// Page tokens of a user's own records are bound to the listing kind and the user, so a token
// cannot page another listing or another user's records.
inline std::string OwnedBinding(absl::string_view kind, int64_t user_id) {
  return absl::StrCat(kind, "\nuser=", user_id);
}

// Lists read one row more than a page: the extra row tells whether another page exists without
// a second query. Drops it and returns the next page's token ("" on the last page).
template <typename Row>
std::string TrimToPage(std::vector<Row>& rows, int page_size, const PageTokenCodec& tokens,
                       absl::string_view binding) {
  if (static_cast<int>(rows.size()) <= page_size) return "";
  rows.resize(page_size);
  return tokens.Encode({.create_micros = rows.back().create_micros, .id = rows.back().id}, binding);
}

}  // namespace spine::storage
