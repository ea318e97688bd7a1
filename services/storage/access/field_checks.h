// Field rules shared by every data access class: ids, owners, text and byte limits, usernames and
// token hashes. Each failure is INVALID_ARGUMENT naming the field, so the edge can say which one.
#pragma once

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace spine::storage {

// The owning user of a record: a user id > 0 (taken by the calling service from a verified token).
absl::Status CheckOwner(int64_t user_id);

// A record's own id > 0; the message names the kind ("5 is not a run id").
absl::Status CheckRecordId(absl::string_view kind, int64_t id);

// `value` is valid UTF-8 of min..max code points; with `single_line`, no C0 control or DEL.
absl::Status CheckText(absl::string_view field, absl::string_view value, size_t min_chars,
                       size_t max_chars, bool single_line);

// At most `max_bytes` bytes.
absl::Status CheckBytes(absl::string_view field, absl::string_view value, size_t max_bytes);

// A new account's name: 3..32 of a-z, 0-9, '_', '.', '-' (API.md).
absl::Status CheckUsername(absl::string_view username);

// A name being looked up: 1..64 characters (any case; lookups ignore it).
absl::Status CheckLookupName(absl::string_view username);

// A SHA-256 digest: exactly 32 bytes.
absl::Status CheckTokenHash(absl::string_view field, absl::string_view hash);

}  // namespace spine::storage
