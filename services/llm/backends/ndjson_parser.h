// NdjsonParser: splits a newline-delimited JSON stream (Ollama's streaming replies) into lines,
// whatever the chunk boundaries of the transport.
//
// Not thread-safe: one parser per stream, fed from one thread at a time.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace spine::llm {

class NdjsonParser {
 public:
  static constexpr size_t kDefaultMaxLineBytes = size_t{1} << 20;  // 1 MiB

  explicit NdjsonParser(size_t max_line_bytes = kDefaultMaxLineBytes)
      : max_line_bytes_(max_line_bytes) {}

  // Appends `chunk` and returns the lines it completed, in order, without their "\n" (or
  // "\r\n"); blank lines are skipped. A line longer than the limit is INVALID_ARGUMENT, and
  // every later call returns that error too. The parser does not look inside the lines.
  absl::StatusOr<std::vector<std::string>> Feed(absl::string_view chunk);

  // At the end of the stream: the last line when it had no "\n" (empty when there is none).
  absl::StatusOr<std::string> Finish();

 private:
  size_t max_line_bytes_;
  std::string pending_;  // the incomplete line so far
  absl::Status error_;   // sticky once a limit is broken
};

}  // namespace spine::llm
