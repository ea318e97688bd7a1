#include "services/llm/backends/ndjson_parser.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace spine::llm {
namespace {

// Strips the "\r" of a "\r\n" line ending.
absl::string_view TrimCarriageReturn(absl::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> NdjsonParser::Feed(absl::string_view chunk) {
  if (!error_.ok()) return error_;
  std::vector<std::string> lines;
  while (!chunk.empty()) {
    const size_t newline = chunk.find('\n');
    const absl::string_view piece = chunk.substr(0, newline);
    // Checked before copying, so a stream without newlines never holds more than the limit.
    if (pending_.size() + piece.size() > max_line_bytes_ + 1) {
      error_ = absl::InvalidArgumentError(
          absl::StrCat("ndjson: a line is longer than ", max_line_bytes_, " bytes"));
      pending_.clear();
      return error_;
    }
    if (newline == absl::string_view::npos) {
      pending_.append(piece.data(), piece.size());
      break;
    }
    pending_.append(piece.data(), piece.size());
    chunk.remove_prefix(newline + 1);
    const absl::string_view line = TrimCarriageReturn(pending_);
    if (line.size() > max_line_bytes_) {
      error_ = absl::InvalidArgumentError(
          absl::StrCat("ndjson: a line is longer than ", max_line_bytes_, " bytes"));
      pending_.clear();
      return error_;
    }
    if (!line.empty()) lines.emplace_back(line);
    pending_.clear();
  }
  return lines;
}

absl::StatusOr<std::string> NdjsonParser::Finish() {
  if (!error_.ok()) return error_;
  // One byte over is allowed while the line may still end in "\r\n"; at the end it may not.
  const absl::string_view line = TrimCarriageReturn(pending_);
  if (line.size() > max_line_bytes_) {
    error_ = absl::InvalidArgumentError(
        absl::StrCat("ndjson: a line is longer than ", max_line_bytes_, " bytes"));
    return error_;
  }
  std::string last(line);
  pending_.clear();
  return last;
}

}  // namespace spine::llm
