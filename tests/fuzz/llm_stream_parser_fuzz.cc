// Fuzz target for the LLM backends' stream parsers (NdjsonParser, SseParser), which see whatever
// a model server sends.
//
// Properties checked on every input: neither parser crashes; feeding the input whole and
// feeding it in pieces (sizes taken from the first byte) give the same lines / events or the
// same error; no line or event is ever longer than the limit.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "services/llm/backends/ndjson_parser.h"
#include "services/llm/backends/sse_parser.h"

namespace {

// Small, so that the corpus reaches the limit without megabyte inputs.
constexpr size_t kLimit = 64;

void Fail(const char* what) {
  std::fprintf(stderr, "llm_stream_parser_fuzz: %s\n", what);
  std::abort();
}

std::vector<absl::string_view> Split(absl::string_view input, size_t step) {
  std::vector<absl::string_view> pieces;
  for (size_t i = 0; i < input.size(); i += step) pieces.push_back(input.substr(i, step));
  return pieces;
}

// All lines (and the unterminated last one), or "!" plus the error.
std::vector<std::string> NdjsonLines(const std::vector<absl::string_view>& pieces) {
  spine::llm::NdjsonParser parser(kLimit);
  std::vector<std::string> out;
  for (const absl::string_view piece : pieces) {
    auto lines = parser.Feed(piece);
    if (!lines.ok()) return {"!" + std::string(lines.status().message())};
    out.insert(out.end(), lines->begin(), lines->end());
  }
  auto last = parser.Finish();
  if (!last.ok()) return {"!" + std::string(last.status().message())};
  if (!last->empty()) out.push_back(*last);
  for (const std::string& line : out) {
    if (line.size() > kLimit) Fail("ndjson line over the limit");
    if (line.find('\n') != std::string::npos) Fail("ndjson line holds a newline");
  }
  return out;
}

std::vector<std::string> SseEvents(const std::vector<absl::string_view>& pieces) {
  spine::llm::SseParser parser(kLimit);
  std::vector<std::string> out;
  for (const absl::string_view piece : pieces) {
    auto events = parser.Feed(piece);
    if (!events.ok()) return {"!" + std::string(events.status().message())};
    for (const spine::llm::SseEvent& event : *events) {
      if (event.data.size() > kLimit) Fail("sse event data over the limit");
      out.push_back(event.event + "\x1F" + event.id + "\x1F" + event.data);
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t step = 1 + data[0] % 16;
  const absl::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::vector<absl::string_view> whole = {input};
  const std::vector<absl::string_view> pieces = Split(input, step);

  if (NdjsonLines(whole) != NdjsonLines(pieces)) Fail("ndjson result depends on chunking");
  if (SseEvents(whole) != SseEvents(pieces)) Fail("sse result depends on chunking");
  return 0;
}
