#include "services/storage/access/thought_access.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "libs/core/status.h"
#include "services/storage/access/field_checks.h"
#include "services/storage/error_reasons.h"
#include "services/storage/paging.h"
#include "services/storage/search_query.h"
#include "services/storage/thought_validation.h"

namespace spine::storage {
namespace {

constexpr char kThoughtNotFound[] = "THOUGHT_NOT_FOUND";

// What a page token is bound to: the same user and the same filters.
std::string TokenBinding(int64_t user_id, const ListThoughtsParams& params) {
  return absl::StrCat("user=", user_id, "\ntag=", params.tag, "\nquery=", params.query);
}

}  // namespace

absl::StatusOr<Thought> ThoughtAccess::CreateThought(int64_t user_id, const std::string& text,
                                                     const std::vector<std::string>& tags) {
  SPINE_RETURN_IF_ERROR(ValidateThoughtText(text));
  SPINE_ASSIGN_OR_RETURN(std::vector<std::string> normalized, NormalizeTags(tags));
  Thought thought;
  thought.user_id = user_id;
  thought.text = text;
  thought.tags = std::move(normalized);
  thought.create_micros = absl::ToUnixMicros(clock_.Now());
  thought.update_micros = thought.create_micros;
  return adapter_.InsertThought(thought);
}

absl::StatusOr<Thought> ThoughtAccess::GetThought(int64_t user_id, int64_t id) {
  SPINE_RETURN_IF_ERROR(CheckRecordId("thought", id));
  return WithNotFoundReason(adapter_.GetThought(user_id, id), kThoughtNotFound);
}

absl::StatusOr<ThoughtPage> ThoughtAccess::ListThoughts(int64_t user_id,
                                                        const ListThoughtsParams& params) {
  SPINE_ASSIGN_OR_RETURN(const int page_size, PageSize(params.page_size));
  ThoughtQuery query;
  query.user_id = user_id;
  if (!params.tag.empty()) {
    absl::StatusOr<std::vector<std::string>> tag = NormalizeTags({params.tag});
    if (!tag.ok()) {
      // The rules are the tags' rules; the message names the query parameter.
      return absl::InvalidArgumentError(
          absl::StrCat("tag", absl::StripPrefix(tag.status().message(), "tags[0]")));
    }
    query.tag = tag->front();
  }
  if (!params.query.empty()) {
    SPINE_ASSIGN_OR_RETURN(query.fts_match, BuildFtsMatchExpression(params.query));
  }
  SPINE_ASSIGN_OR_RETURN(
      PageOf<Thought> page,
      ReadPage<Thought>(std::move(query), page_size, params.page_token, page_tokens_,
                        TokenBinding(user_id, params),
                        [this](const ThoughtQuery& q) { return adapter_.ListThoughts(q); }));
  return ThoughtPage{std::move(page.rows), std::move(page.next_page_token)};
}

absl::StatusOr<Thought> ThoughtAccess::UpdateThought(
    int64_t user_id, int64_t id, const std::optional<std::string>& text,
    const std::optional<std::vector<std::string>>& tags) {
  SPINE_RETURN_IF_ERROR(CheckRecordId("thought", id));
  ThoughtPatch patch;
  if (text) {
    SPINE_RETURN_IF_ERROR(ValidateThoughtText(*text));
    patch.text = *text;
  }
  if (tags) {
    SPINE_ASSIGN_OR_RETURN(patch.tags, NormalizeTags(*tags));
  }
  patch.update_micros = absl::ToUnixMicros(clock_.Now());
  return WithNotFoundReason(adapter_.UpdateThought(user_id, id, patch), kThoughtNotFound);
}

absl::Status ThoughtAccess::DeleteThought(int64_t user_id, int64_t id) {
  SPINE_RETURN_IF_ERROR(CheckRecordId("thought", id));
  return WithNotFoundReason(adapter_.DeleteThought(user_id, id), kThoughtNotFound);
}

}  // namespace spine::storage
