#include "services/storage/thought_validation.h"

#include <cstdint>
#include <string_view>
#include <unordered_set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/core/status.h"

namespace spine::storage {
namespace {

// C0, DEL and C1 (U+0080–U+009F, encoded as C2 80..C2 9F). Only called on valid UTF-8.
bool HasControlCharacter(absl::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    const auto b = static_cast<uint8_t>(s[i]);
    if (b < 0x20 || b == 0x7F) return true;
    if (b == 0xC2 && i + 1 < s.size() && static_cast<uint8_t>(s[i + 1]) <= 0x9F) return true;
  }
  return false;
}

absl::Status CheckTag(absl::string_view tag, size_t index) {
  if (tag.empty())
    return absl::InvalidArgumentError(absl::StrCat("tags[", index, "]: must not be empty"));
  const Utf8Check utf8 = CheckUtf8(tag);
  if (!utf8.valid) {
    return absl::InvalidArgumentError(
        absl::StrCat("tags[", index, "]: not valid UTF-8 (byte ", utf8.bad_offset, ")"));
  }
  if (utf8.code_points > kMaxTagCodePoints) {
    return absl::InvalidArgumentError(absl::StrCat("tags[", index, "]: ", utf8.code_points,
                                                   " characters, at most ", kMaxTagCodePoints));
  }
  if (HasControlCharacter(tag)) {
    return absl::InvalidArgumentError(
        absl::StrCat("tags[", index, "]: contains a control character"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateThoughtText(absl::string_view text) {
  if (text.empty()) return absl::InvalidArgumentError("text: must not be empty");
  const Utf8Check utf8 = CheckUtf8(text);
  if (!utf8.valid) {
    return absl::InvalidArgumentError(
        absl::StrCat("text: not valid UTF-8 (byte ", utf8.bad_offset, ")"));
  }
  if (utf8.code_points > kMaxThoughtTextCodePoints) {
    return absl::InvalidArgumentError(absl::StrCat(
        "text: ", utf8.code_points, " characters, at most ", kMaxThoughtTextCodePoints));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> NormalizeTags(const std::vector<std::string>& tags) {
  // Every tag is checked before the count, so that a client sending 20 tags with a bad one hears
  // about the bad one (which it must fix anyway) together with a stable index.
  for (size_t i = 0; i < tags.size(); ++i) {
    SPINE_RETURN_IF_ERROR(CheckTag(tags[i], i));
  }
  std::vector<std::string> unique;
  unique.reserve(tags.size());
  std::unordered_set<std::string_view> seen;
  for (const std::string& tag : tags) {
    if (seen.insert(std::string_view(tag)).second) unique.push_back(tag);
  }
  if (unique.size() > kMaxTags) {
    return absl::InvalidArgumentError(
        absl::StrCat("tags: ", unique.size(), " tags, at most ", kMaxTags));
  }
  return unique;
}

}  // namespace spine::storage
