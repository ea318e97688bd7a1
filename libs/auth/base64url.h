// Base64url (RFC 4648 §5) without padding, as JWS compact serialization uses it.
//
// The decoder is strict so that every byte string has exactly one accepted encoding: a token
// cannot be re-spelled (and so slip past a cache or a replay check) without its text changing.
// Both functions are pure and thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace spine {

// Encodes `data` with the URL-safe alphabet (`-`, `_`) and no `=` padding.
std::string Base64UrlEncode(std::string_view data);

// Decodes unpadded base64url. Returns INVALID_ARGUMENT for `=` padding, characters outside
// [A-Za-z0-9_-], a length with remainder 1 mod 4, or non-zero unused bits in the last character
// (a non-canonical spelling). The empty string decodes to the empty string.
absl::StatusOr<std::string> Base64UrlDecodeStrict(std::string_view encoded);

}  // namespace spine
