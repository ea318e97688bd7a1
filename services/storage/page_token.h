// Page tokens for newest-first listings: opaque to clients, tamper-proof, and bound to the user and
// filters they were issued for.
//
// A token is base64url without padding of: version byte (1) | create_micros (8 bytes, big-endian) |
// id (8 bytes, big-endian) | HMAC-SHA256(key, version | create_micros | id | binding) (32 bytes),
// 66 characters in all. The binding is not in the token; the caller supplies it on both sides, so a
// token issued for one user or one set of filters fails the MAC check under any other. The format
// is stable across releases: a token handed out before an upgrade keeps working after it.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace spine::storage {

// Where the next page starts, newest first: items strictly before (create_micros, id) in
// (create_micros DESC, id DESC) order. Both fields are >= 0 in any token Decode accepts.
struct PageCursor {
  int64_t create_micros = 0;
  int64_t id = 0;
  bool operator==(const PageCursor&) const = default;
};

// Longest token text Decode looks at; longer input is rejected before any other work.
inline constexpr size_t kMaxPageTokenChars = 256;

// Encodes and checks page tokens under one HMAC key. Immutable after construction, so thread-safe.
class PageTokenCodec {
 public:
  // `key` is the HMAC key's bytes, at least 1 (the storage config requires >= 32).
  explicit PageTokenCodec(std::string key);

  // The token for `cursor` under `binding` (e.g. "user=7\ntag=x\nquery=y": it must spell out every
  // filter, unambiguously). `cursor`'s fields must be >= 0, or Decode will refuse the token.
  std::string Encode(const PageCursor& cursor, absl::string_view binding) const;

  // The cursor in `token` if it was made by Encode with this key and this `binding`. Otherwise
  // INVALID_ARGUMENT whose message starts "pageToken: " (over 256 characters, not base64url, wrong
  // length or version, MAC mismatch, negative field); the message never repeats the token. The
  // empty string is not a token: a caller treats "no token" as "first page" before calling this.
  absl::StatusOr<PageCursor> Decode(absl::string_view token, absl::string_view binding) const;

 private:
  std::string key_;
};

}  // namespace spine::storage
