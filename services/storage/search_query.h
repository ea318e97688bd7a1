// Full-text search input: turns what a user typed into an SQLite FTS5 MATCH expression in which
// nothing the user typed acts as FTS5 syntax.
//
// The query is split into words at whitespace (ASCII and Unicode White_Space) and control
// characters; the words are ANDed. A word ending in `*` is a prefix search (`note*` matches
// "notes"); its trailing stars are removed and the FTS5 prefix marker is put outside the quotes.
// Each word becomes an FTS5 string, `"word"` or `"word"*`, with embedded `"` doubled, and the
// strings are joined by " AND ": `say "hi" note*` → `"say" AND """hi""" AND "note"*`. So OR, NOT,
// NEAR, AND, `-`, `:`, `^`, parentheses and column filters such as `text:` are matched as text.
//
// Inside the quotes, FTS5's unicode61 tokenizer splits a word at punctuation, so `foo-bar` becomes
// the phrase "foo bar", and a word with no letter or digit at all (`-`, `::`, `—`, `😀`) would be
// an empty phrase that matches nothing: such words are dropped. The characters treated as "no
// letter or digit" are ASCII punctuation and a table of common non-ASCII punctuation, symbol and
// emoji ranges that the unicode61 tokenizer of the SQLite we ship treats as separators (a unit test
// checks the table against it); any other non-ASCII character counts as searchable.
//
// Pure and thread-safe.
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace spine::storage {

inline constexpr size_t kMaxSearchQueryCodePoints = 1000;
inline constexpr size_t kMaxSearchQueryWords = 32;

// Returns the MATCH expression, to be bound as a parameter (never spliced into SQL). Errors are
// INVALID_ARGUMENT: "query: not valid UTF-8 (byte 17)", "query: 1001 characters, at most 1000",
// "query: 33 words, at most 32" (counting the words kept, after dropping those without a letter or
// digit), "query: no searchable words" (empty, only whitespace, or only dropped words).
absl::StatusOr<std::string> BuildFtsMatchExpression(absl::string_view user_query);

}  // namespace spine::storage
