// Strict UTF-8 validation, shared by everything that accepts text from outside (storage's
// field rules, the gateway's path and query decoding).
#pragma once

#include <cstddef>

#include "absl/strings/string_view.h"

namespace spine {

// The result of CheckUtf8. When `valid`, `code_points` counts the code points and `bad_offset` is
// s.size(); otherwise `code_points` counts those before `bad_offset`, the byte offset at which the
// first ill-formed sequence starts.
struct Utf8Check {
  bool valid;
  size_t code_points;
  size_t bad_offset;
};

// Strict UTF-8 (RFC 3629): rejects stray continuation bytes, truncated sequences, overlong forms,
// surrogates (U+D800–U+DFFF) and anything above U+10FFFF. U+0000 is a valid code point.
Utf8Check CheckUtf8(absl::string_view s);

}  // namespace spine
