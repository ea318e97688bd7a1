#include "services/storage/data_access_service.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "libs/core/status.h"
#include "services/storage/search_query.h"
#include "services/storage/thought_validation.h"

namespace spine::storage {
namespace {

absl::Status CheckId(int64_t id) {
  if (id <= 0) return absl::InvalidArgumentError(absl::StrCat("id: ", id, " is not a thought id"));
  return absl::OkStatus();
}

// What a page token is bound to: the same user and the same filters.
std::string TokenBinding(int64_t user_id, const ListThoughtsParams& params) {
  return absl::StrCat("user=", user_id, "\ntag=", params.tag, "\nquery=", params.query);
}

}  // namespace

absl::StatusOr<Thought> DataAccessService::CreateThought(int64_t user_id, const std::string& text,
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

absl::StatusOr<Thought> DataAccessService::GetThought(int64_t user_id, int64_t id) {
  SPINE_RETURN_IF_ERROR(CheckId(id));
  return adapter_.GetThought(user_id, id);
}

absl::StatusOr<ThoughtPage> DataAccessService::ListThoughts(int64_t user_id,
                                                            const ListThoughtsParams& params) {
  if (params.page_size < 0 || params.page_size > kMaxPageSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("pageSize: ", params.page_size, ", must be between 1 and ", kMaxPageSize));
  }
  ThoughtQuery query;
  query.user_id = user_id;
  query.limit = params.page_size == 0 ? kDefaultPageSize : params.page_size;
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
  const std::string binding = TokenBinding(user_id, params);
  if (!params.page_token.empty()) {
    SPINE_ASSIGN_OR_RETURN(PageCursor cursor, page_tokens_.Decode(params.page_token, binding));
    query.after = cursor;
  }
  // One extra row tells whether another page exists without a second query.
  const int page_size = query.limit;
  query.limit = page_size + 1;
  SPINE_ASSIGN_OR_RETURN(std::vector<Thought> thoughts, adapter_.ListThoughts(query));
  ThoughtPage page;
  if (static_cast<int>(thoughts.size()) > page_size) {
    thoughts.resize(page_size);
    const Thought& last = thoughts.back();
    page.next_page_token =
        page_tokens_.Encode({.create_micros = last.create_micros, .id = last.id}, binding);
  }
  page.thoughts = std::move(thoughts);
  return page;
}

absl::StatusOr<Thought> DataAccessService::UpdateThought(
    int64_t user_id, int64_t id, const std::optional<std::string>& text,
    const std::optional<std::vector<std::string>>& tags) {
  SPINE_RETURN_IF_ERROR(CheckId(id));
  ThoughtPatch patch;
  if (text) {
    SPINE_RETURN_IF_ERROR(ValidateThoughtText(*text));
    patch.text = *text;
  }
  if (tags) {
    SPINE_ASSIGN_OR_RETURN(patch.tags, NormalizeTags(*tags));
  }
  patch.update_micros = absl::ToUnixMicros(clock_.Now());
  return adapter_.UpdateThought(user_id, id, patch);
}

absl::Status DataAccessService::DeleteThought(int64_t user_id, int64_t id) {
  SPINE_RETURN_IF_ERROR(CheckId(id));
  return adapter_.DeleteThought(user_id, id);
}

}  // namespace spine::storage
