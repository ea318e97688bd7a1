#include "services/storage/thought_validation.h"

#include <cstdint>
#include <string_view>
#include <unordered_set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/core/status.h"

namespace spine::storage {
namespace {

// Length of the well-formed sequence starting at s[i], or 0 when it is ill-formed. The ranges of
// the second byte are those of RFC 3629's table, which is what excludes overlongs (E0, F0),
// surrogates (ED) and code points above U+10FFFF (F4) without decoding.
size_t SequenceLength(absl::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const auto in = [](uint8_t b, uint8_t lo, uint8_t hi) { return b >= lo && b <= hi; };
  const uint8_t b0 = byte(i);
  const size_t left = s.size() - i;
  if (b0 < 0x80) return 1;
  if (in(b0, 0xC2, 0xDF)) return left >= 2 && in(byte(i + 1), 0x80, 0xBF) ? 2 : 0;
  if (in(b0, 0xE0, 0xEF)) {
    if (left < 3) return 0;
    const uint8_t lo = b0 == 0xE0 ? 0xA0 : 0x80;
    const uint8_t hi = b0 == 0xED ? 0x9F : 0xBF;
    return in(byte(i + 1), lo, hi) && in(byte(i + 2), 0x80, 0xBF) ? 3 : 0;
  }
  if (in(b0, 0xF0, 0xF4)) {
    if (left < 4) return 0;
    const uint8_t lo = b0 == 0xF0 ? 0x90 : 0x80;
    const uint8_t hi = b0 == 0xF4 ? 0x8F : 0xBF;
    return in(byte(i + 1), lo, hi) && in(byte(i + 2), 0x80, 0xBF) && in(byte(i + 3), 0x80, 0xBF)
               ? 4
               : 0;
  }
  return 0;  // 0x80..0xC1 (continuation or overlong lead) and 0xF5..0xFF never start a character.
}

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

Utf8Check CheckUtf8(absl::string_view s) {
  size_t code_points = 0;
  size_t i = 0;
  while (i < s.size()) {
    const size_t len = SequenceLength(s, i);
    if (len == 0) return Utf8Check{false, code_points, i};
    i += len;
    ++code_points;
  }
  return Utf8Check{true, code_points, s.size()};
}

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
