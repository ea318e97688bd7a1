// ThoughtAccess: a user's thoughts between the gRPC layer and the StorageAdapter — text and tag
// rules, ownership (another user's thought is NOT_FOUND), newest-first pages with tamper-proof
// page tokens bound to the user and the filters, and full-text search.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/core/clock.h"
#include "services/storage/page_token.h"
#include "services/storage/storage_adapter.h"
#include "services/storage/thought.h"

namespace spine::storage {

struct ListThoughtsParams {
  int page_size = 0;  // 0: the default (50); else 1..500
  std::string page_token{};
  std::string tag{};
  std::string query{};
};

struct ThoughtPage {
  std::vector<Thought> thoughts;
  std::string next_page_token;  // empty on the last page
};

class ThoughtAccess {
 public:
  ThoughtAccess(StorageAdapter& adapter, const PageTokenCodec& page_tokens, const Clock& clock)
      : adapter_(adapter), page_tokens_(page_tokens), clock_(clock) {}

  absl::StatusOr<Thought> CreateThought(int64_t user_id, const std::string& text,
                                        const std::vector<std::string>& tags);
  absl::StatusOr<Thought> GetThought(int64_t user_id, int64_t id);
  absl::StatusOr<ThoughtPage> ListThoughts(int64_t user_id, const ListThoughtsParams& params);
  // Replaces the fields that are present; NOT_FOUND for another user's thought.
  absl::StatusOr<Thought> UpdateThought(int64_t user_id, int64_t id,
                                        const std::optional<std::string>& text,
                                        const std::optional<std::vector<std::string>>& tags);
  absl::Status DeleteThought(int64_t user_id, int64_t id);

 private:
  StorageAdapter& adapter_;
  const PageTokenCodec& page_tokens_;
  const Clock& clock_;
};

}  // namespace spine::storage
