#include "libs/core/utf8.h"

#include <catch2/catch.hpp>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace spine {
namespace {

// "é" (2 bytes), "€" (3 bytes), "😀" (4 bytes): one character each.
constexpr absl::string_view kTwoByte = "\xC3\xA9";
constexpr absl::string_view kThreeByte = "\xE2\x82\xAC";
constexpr absl::string_view kFourByte = "\xF0\x9F\x98\x80";

}  // namespace

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

}  // namespace spine
