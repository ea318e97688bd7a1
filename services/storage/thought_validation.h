// Validation of a thought's user-supplied fields, exactly as API.md states them: text is 1..10 000
// characters of valid UTF-8; tags are at most 16, each 1..64 characters with no control characters,
// duplicates removed and order kept. A "character" is a Unicode code point.
//
// All functions are pure and thread-safe. Error messages name the field (and the tag's index in the
// request) and the offending value's size, never the value itself.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "libs/core/utf8.h"

namespace spine::storage {

inline constexpr size_t kMaxThoughtTextCodePoints = 10'000;
inline constexpr size_t kMaxTags = 16;
inline constexpr size_t kMaxTagCodePoints = 64;

// Returns OK when `text` is 1..10 000 code points of valid UTF-8, else INVALID_ARGUMENT:
// "text: must not be empty", "text: not valid UTF-8 (byte 17)" (offset of the first ill-formed
// sequence), "text: 10001 characters, at most 10000". Whitespace and line breaks are ordinary
// characters: the text is stored verbatim, not trimmed.
absl::Status ValidateThoughtText(absl::string_view text);

// Checks every tag, then removes exact (byte-for-byte) duplicates keeping the first occurrence's
// position, and returns the tags to store. Each tag must be 1..64 code points of valid UTF-8 with
// no control character (C0 U+0000–U+001F, DEL U+007F, C1 U+0080–U+009F); tags are not trimmed or
// case-folded. The limit of 16 applies AFTER duplicates are removed, so a client that repeats a tag
// is not punished for it. Errors are INVALID_ARGUMENT naming the index in `tags` of the first bad
// tag: "tags[2]: must not be empty", "tags[2]: not valid UTF-8 (byte 5)", "tags[3]: 70 characters,
// at most 64", "tags[2]: contains a control character"; or "tags: 17 tags, at most 16" (counting
// distinct tags).
absl::StatusOr<std::vector<std::string>> NormalizeTags(const std::vector<std::string>& tags);

}  // namespace spine::storage
