// Domain types of thoughts, shared by ThoughtAccess and the storage adapters.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "services/storage/page_token.h"

namespace spine::storage {

struct Thought {
  int64_t id = 0;
  int64_t user_id = 0;
  std::string text;
  std::vector<std::string> tags;  // validated, duplicates removed, order kept
  int64_t create_micros = 0;      // microseconds since the Unix epoch
  int64_t update_micros = 0;

  bool operator==(const Thought&) const = default;
};

// One page of a user's thoughts, newest first (create_micros DESC, id DESC).
struct ThoughtQuery {
  int64_t user_id = 0;
  std::string tag{};                  // empty: any
  std::string fts_match{};            // empty: no search; else a safe FTS5 MATCH expression
  std::optional<PageCursor> after{};  // start strictly after this position
  int limit = 50;
};

// Fields present are replaced.
struct ThoughtPatch {
  std::optional<std::string> text{};
  std::optional<std::vector<std::string>> tags{};
  int64_t update_micros = 0;
};

}  // namespace spine::storage
