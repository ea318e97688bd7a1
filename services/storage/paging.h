// Page-size and next-page-token rules shared by every newest-first listing of the data access
// classes (services/storage/access/).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "libs/core/status.h"
#include "services/storage/error_reasons.h"
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

// One page of a newest-first listing.
template <typename Row>
struct PageOf {
  std::vector<Row> rows;
  std::string next_page_token;  // "" on the last page
};

// Reads one page of `query` through `list` (the adapter's listing). A `page_token` resumes after
// the position it names, and is refused unless it was issued for `binding`. One row more than
// the page is read: the extra row tells whether another page exists without a second query, and
// is dropped.
template <typename Row, typename Query, typename List>
absl::StatusOr<PageOf<Row>> ReadPage(Query query, int page_size, absl::string_view page_token,
                                     const PageTokenCodec& tokens, absl::string_view binding,
                                     const List& list) {
  if (!page_token.empty()) {
    SPINE_ASSIGN_OR_RETURN(query.after, DecodePageToken(tokens, page_token, binding));
  }
  query.limit = page_size + 1;
  PageOf<Row> page;
  SPINE_ASSIGN_OR_RETURN(page.rows, list(query));
  if (static_cast<int>(page.rows.size()) > page_size) {
    page.rows.resize(page_size);
    page.next_page_token = tokens.Encode(
        {.create_micros = page.rows.back().create_micros, .id = page.rows.back().id}, binding);
  }
  return page;
}

}  // namespace spine::storage
