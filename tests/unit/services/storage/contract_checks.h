// Checks the StorageAdapter contract suites share: what every per-user row kind and every
// newest-first listing keeps, whichever the row (thought, conversation, pipeline, audit event).
#pragma once

#include <catch2/catch.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "services/storage/page_token.h"

namespace spine::storage::testing {

// The ids of `rows`, in order.
template <typename Row>
std::vector<int64_t> Ids(const std::vector<Row>& rows) {
  std::vector<int64_t> ids;
  ids.reserve(rows.size());
  for (const Row& row : rows) ids.push_back(row.id);
  return ids;
}

// Walks a newest-first listing page by page, each from the cursor of the previous page's last
// row, as a client does: `list(after)` returns the page after `after` (nullopt: the first page)
// of at most `limit` rows. Stops after the first short page; returns every page's ids.
template <typename List>
std::vector<std::vector<int64_t>> PageIds(List list, size_t limit) {
  std::vector<std::vector<int64_t>> pages;
  std::optional<PageCursor> after;
  while (pages.size() < 100) {  // an adapter that never ends a listing fails, not hangs
    const auto page = list(after);
    REQUIRE(page.ok());
    pages.push_back(Ids(*page));
    if (page->size() < limit || page->empty()) break;
    after = PageCursor{.create_micros = page->back().create_micros, .id = page->back().id};
  }
  return pages;
}

// The contract of every per-user row: another user can neither read nor delete it; its owner
// deletes it once, and then it is NOT_FOUND. `get(user)` reads the row as `user` (a StatusOr),
// `remove(user)` deletes it as `user` (a Status).
template <typename Get, typename Remove>
void CheckOwnedDelete(int64_t owner, int64_t stranger, Get get, Remove remove) {
  CHECK(get(stranger).status().code() == absl::StatusCode::kNotFound);
  CHECK(remove(stranger).code() == absl::StatusCode::kNotFound);
  REQUIRE(get(owner).ok());
  CHECK(remove(owner).ok());
  CHECK(get(owner).status().code() == absl::StatusCode::kNotFound);
  CHECK(remove(owner).code() == absl::StatusCode::kNotFound);
}

}  // namespace spine::storage::testing
