#include "libs/core/utf8.h"

#include <cstdint>

namespace spine {
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

}  // namespace spine
