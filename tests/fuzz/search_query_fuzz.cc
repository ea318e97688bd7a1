// Fuzz target for BuildFtsMatchExpression, the function that turns client search text into an
// FTS5 expression.
//
// Properties checked on every input: it never crashes; any expression it returns is a non-empty
// list of at most 32 terms `"..."` or `"..."*` joined by " AND ", in which every `"` inside a term
// is doubled (so quotes balance and nothing escapes a term) and no control character appears;
// and any error is INVALID_ARGUMENT naming the query.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "services/storage/search_query.h"

namespace {

void Fail(const char* what) {
  std::fprintf(stderr, "search_query_fuzz: %s\n", what);
  std::abort();
}

// Parses `expression` with the grammar above and returns the number of terms, or fails.
size_t CountTerms(absl::string_view expression) {
  size_t terms = 0;
  size_t i = 0;
  while (true) {
    if (i >= expression.size() || expression[i] != '"') Fail("term does not start with a quote");
    ++i;
    bool closed = false;
    bool empty = true;
    while (i < expression.size()) {
      const auto c = static_cast<uint8_t>(expression[i]);
      if (c < 0x20 || c == 0x7F) Fail("control character in expression");
      if (c == '"') {
        if (i + 1 < expression.size() && expression[i + 1] == '"') {
          i += 2;  // an escaped quote
          empty = false;
          continue;
        }
        closed = true;
        ++i;
        break;
      }
      empty = false;
      ++i;
    }
    if (!closed) Fail("unbalanced quote");
    if (empty) Fail("empty term");
    ++terms;
    if (i < expression.size() && expression[i] == '*') ++i;
    if (i == expression.size()) return terms;
    if (expression.substr(i, 5) != " AND ") Fail("terms not joined by \" AND \"");
    i += 5;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view query(reinterpret_cast<const char*>(data), size);
  const absl::StatusOr<std::string> expression = spine::storage::BuildFtsMatchExpression(query);
  if (!expression.ok()) {
    if (expression.status().code() != absl::StatusCode::kInvalidArgument ||
        expression.status().message().substr(0, 7) != "query: ") {
      Fail("error is not INVALID_ARGUMENT \"query: ...\"");
    }
    return 0;
  }
  const size_t terms = CountTerms(*expression);
  if (terms == 0 || terms > spine::storage::kMaxSearchQueryWords) Fail("wrong number of terms");
  return 0;
}
