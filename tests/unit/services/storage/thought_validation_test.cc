#include "services/storage/thought_validation.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace spine::storage {
namespace {

// "é" (2 bytes), "€" (3 bytes), "😀" (4 bytes): one character each.
constexpr absl::string_view kTwoByte = "\xC3\xA9";
constexpr absl::string_view kThreeByte = "\xE2\x82\xAC";
constexpr absl::string_view kFourByte = "\xF0\x9F\x98\x80";

std::string Repeat(absl::string_view s, size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (size_t i = 0; i < n; ++i) out.append(s.data(), s.size());
  return out;
}

std::string ErrorOf(const absl::Status& status) {
  REQUIRE_FALSE(status.ok());
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  return std::string(status.message());
}

std::string TagsError(const std::vector<std::string>& tags) {
  return ErrorOf(NormalizeTags(tags).status());
}

std::vector<std::string> MustNormalize(const std::vector<std::string>& tags) {
  absl::StatusOr<std::vector<std::string>> normalized = NormalizeTags(tags);
  INFO(normalized.status().ToString());
  REQUIRE(normalized.ok());
  return *normalized;
}

std::vector<std::string> NumberedTags(size_t n) {
  std::vector<std::string> tags;
  for (size_t i = 0; i < n; ++i) tags.push_back(absl::StrCat("tag", i));
  return tags;
}

TEST_CASE("utf-8 check counts code points of every length") {
  const Utf8Check check = CheckUtf8(absl::StrCat("a", kTwoByte, kThreeByte, kFourByte));
  CHECK(check.valid);
  CHECK(check.code_points == 4);
  CHECK(check.bad_offset == 10);
  CHECK(CheckUtf8("").valid);
  CHECK(CheckUtf8(absl::string_view("\0", 1)).code_points == 1);
  // The extremes of each length: U+007F, U+0080, U+07FF, U+0800, U+FFFF, U+10000, U+10FFFF, and
  // the code points on either side of the surrogates.
  for (const absl::string_view edge :
       {"\x7F", "\xC2\x80", "\xDF\xBF", "\xE0\xA0\x80", "\xEF\xBF\xBF", "\xF0\x90\x80\x80",
        "\xF4\x8F\xBF\xBF", "\xED\x9F\xBF", "\xEE\x80\x80"}) {
    INFO(absl::CHexEscape(edge));
    CHECK(CheckUtf8(edge).valid);
    CHECK(CheckUtf8(edge).code_points == 1);
  }
}

TEST_CASE("utf-8 check rejects ill-formed sequences at the offset where they start") {
  struct Case {
    absl::string_view bytes;
    size_t bad_offset;
    size_t code_points_before;
  };
  const std::vector<Case> cases = {
      {"ab\x80", 2, 2},                // stray continuation byte
      {"a\xC3", 1, 1},                 // truncated 2-byte sequence
      {"a\xE2\x82", 1, 1},             // truncated 3-byte sequence
      {"\xF0\x9F\x98", 0, 0},          // truncated 4-byte sequence
      {"a\xC3(b", 1, 1},               // lead byte followed by a non-continuation
      {"\xC0\x80", 0, 0},              // overlong NUL
      {"\xC1\xBF", 0, 0},              // overlong U+007F
      {"\xE0\x9F\xBF", 0, 0},          // overlong U+07FF
      {"\xF0\x8F\xBF\xBF", 0, 0},      // overlong U+FFFF
      {"x\xED\xA0\x80", 1, 1},         // high surrogate U+D800
      {"\xED\xBF\xBF", 0, 0},          // low surrogate U+DFFF
      {"\xF4\x90\x80\x80", 0, 0},      // U+110000
      {"\xF5\x80\x80\x80", 0, 0},      // lead byte beyond U+10FFFF
      {"\xFF", 0, 0},                  // never valid
      {"\xC3\xA9\xC3\xA9\xFE", 4, 2},  // after two good characters
  };
  for (const Case& c : cases) {
    INFO(absl::CHexEscape(c.bytes));
    const Utf8Check check = CheckUtf8(c.bytes);
    CHECK_FALSE(check.valid);
    CHECK(check.bad_offset == c.bad_offset);
    CHECK(check.code_points == c.code_points_before);
  }
}

TEST_CASE("thought text of 1 to 10000 characters is accepted") {
  CHECK(ValidateThoughtText("a").ok());
  CHECK(ValidateThoughtText(" ").ok());
  CHECK(ValidateThoughtText("line one\nline two\ttab").ok());
  CHECK(ValidateThoughtText(Repeat(kFourByte, 10'000)).ok());
  CHECK(ValidateThoughtText(Repeat(kTwoByte, 5'000) + Repeat("a", 5'000)).ok());
}

TEST_CASE("thought text counts characters, not bytes, against the 10000 limit") {
  // 40 000 bytes but 10 000 characters is fine; one more character is not.
  CHECK(ValidateThoughtText(Repeat(kFourByte, 10'000)).ok());
  CHECK(ErrorOf(ValidateThoughtText(Repeat(kFourByte, 10'001))) ==
        "text: 10001 characters, at most 10000");
  CHECK(ErrorOf(ValidateThoughtText(Repeat(kThreeByte, 10'001))) ==
        "text: 10001 characters, at most 10000");
  CHECK(ErrorOf(ValidateThoughtText(Repeat("a", 12'345))) ==
        "text: 12345 characters, at most 10000");
}

TEST_CASE("thought text that is empty is rejected") {
  CHECK(ErrorOf(ValidateThoughtText("")) == "text: must not be empty");
}

TEST_CASE("thought text that is not valid utf-8 is rejected with the byte offset") {
  CHECK(ErrorOf(ValidateThoughtText("hello, world \xC3(")) == "text: not valid UTF-8 (byte 13)");
  CHECK(ErrorOf(ValidateThoughtText("\xED\xA0\x80")) == "text: not valid UTF-8 (byte 0)");
  CHECK(ErrorOf(ValidateThoughtText(Repeat(kTwoByte, 3) + "\xC0\xAF")) ==
        "text: not valid UTF-8 (byte 6)");
  // Invalid UTF-8 is reported even when the text is also too long.
  CHECK(ErrorOf(ValidateThoughtText(Repeat("a", 20'000) + "\xFF")) ==
        "text: not valid UTF-8 (byte 20000)");
}

TEST_CASE("tags are returned in order with later duplicates removed") {
  CHECK(MustNormalize({}).empty());
  CHECK(MustNormalize({"b", "a", "b", "c", "a"}) == std::vector<std::string>{"b", "a", "c"});
  // Duplicates are exact: case and surrounding spaces make different tags.
  CHECK(MustNormalize({"Work", "work", " work", "work"}) ==
        std::vector<std::string>{"Work", "work", " work"});
}

TEST_CASE("tags may be 1 to 64 characters, counted as code points") {
  const std::string sixty_four = Repeat(kFourByte, 64);
  CHECK(MustNormalize({"x", sixty_four}) == std::vector<std::string>{"x", sixty_four});
  CHECK(TagsError({"x", "y", "z", Repeat(kFourByte, 65)}) == "tags[3]: 65 characters, at most 64");
  CHECK(TagsError({"x", "y", "z", Repeat("a", 70)}) == "tags[3]: 70 characters, at most 64");
  CHECK(TagsError({"x", ""}) == "tags[1]: must not be empty");
}

TEST_CASE("tags limit of 16 counts tags after duplicates are removed") {
  CHECK(MustNormalize(NumberedTags(16)).size() == 16);
  std::vector<std::string> repeated = NumberedTags(16);
  for (const std::string& tag : NumberedTags(16)) repeated.push_back(tag);
  CHECK(MustNormalize(repeated) == NumberedTags(16));
  CHECK(TagsError(NumberedTags(17)) == "tags: 17 tags, at most 16");
  repeated.push_back("one more");
  CHECK(TagsError(repeated) == "tags: 17 tags, at most 16");
  CHECK(TagsError(NumberedTags(40)) == "tags: 40 tags, at most 16");
}

TEST_CASE("tags with a control character are rejected") {
  for (const absl::string_view control :
       {absl::string_view("\0", 1), absl::string_view("\x01"), absl::string_view("\t"),
        absl::string_view("\n"), absl::string_view("\x1F"), absl::string_view("\x7F"),
        absl::string_view("\xC2\x80"), absl::string_view("\xC2\x85"),
        absl::string_view("\xC2\x9F")}) {
    INFO(absl::CHexEscape(control));
    CHECK(TagsError({"ok", absl::StrCat("a", control, "b")}) ==
          "tags[1]: contains a control character");
  }
  // The neighbours of the control ranges are ordinary characters.
  CHECK(MustNormalize({" ", "~", "\xC2\xA0", "\xC2\xA1", "\xE2\x80\xA8"}).size() == 5);
}

TEST_CASE("tags that are not valid utf-8 are rejected with index and offset") {
  CHECK(TagsError({"ok", "fine", "ab\xE2\x82"}) == "tags[2]: not valid UTF-8 (byte 2)");
  CHECK(TagsError({"\xC0\x80"}) == "tags[0]: not valid UTF-8 (byte 0)");
}

TEST_CASE("tags report the first bad tag before the count") {
  std::vector<std::string> tags = NumberedTags(20);
  tags[18] = "";
  CHECK(TagsError(tags) == "tags[18]: must not be empty");
}

}  // namespace
}  // namespace spine::storage
