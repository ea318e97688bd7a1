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
