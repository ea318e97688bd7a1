#include "services/llm/backends/sse_parser.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace spine::llm {
namespace {

constexpr absl::string_view kBom = "\xEF\xBB\xBF";

}  // namespace

absl::Status SseParser::Fail() {
  error_ = absl::InvalidArgumentError(
      absl::StrCat("event stream: a line or event is longer than ", max_line_bytes_, " bytes"));
  line_.clear();
  data_.clear();
  return error_;
}

absl::StatusOr<std::vector<SseEvent>> SseParser::Feed(absl::string_view chunk) {
  if (!error_.ok()) return error_;
  std::vector<SseEvent> events;
  // The BOM may itself be split across chunks; bytes that turn out not to be one are kept.
  while (at_start_ && !chunk.empty()) {
    if (chunk.front() == kBom[bom_matched_]) {
      chunk.remove_prefix(1);
      if (++bom_matched_ == kBom.size()) at_start_ = false;
    } else {
      line_.append(kBom.data(), bom_matched_);
      at_start_ = false;
    }
  }
  while (!chunk.empty()) {
    if (after_cr_) {
      after_cr_ = false;
      if (chunk.front() == '\n') {  // the second half of a "\r\n"
        chunk.remove_prefix(1);
        continue;
      }
    }
    const size_t end = chunk.find_first_of("\r\n");
    const absl::string_view piece = chunk.substr(0, end);
    if (line_.size() + piece.size() > max_line_bytes_) return Fail();
    line_.append(piece.data(), piece.size());
    if (end == absl::string_view::npos) break;
    after_cr_ = chunk[end] == '\r';
    chunk.remove_prefix(end + 1);
    const std::string line = std::move(line_);
    line_.clear();
    if (absl::Status status = ProcessLine(line, events); !status.ok()) return status;
  }
  return events;
}

absl::Status SseParser::ProcessLine(absl::string_view line, std::vector<SseEvent>& events) {
  if (line.empty()) {
    if (has_data_) {
      events.push_back(
          SseEvent{event_type_.empty() ? "message" : event_type_, std::move(data_), last_id_});
    }
    data_.clear();
    has_data_ = false;
    event_type_.clear();
    return absl::OkStatus();
  }
  if (line.front() == ':') return absl::OkStatus();  // a comment (keep-alive)
  absl::string_view field = line;
  absl::string_view value;
  if (const size_t colon = line.find(':'); colon != absl::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (data_.size() + value.size() + 1 > max_line_bytes_) return Fail();
    if (has_data_) data_.push_back('\n');
    data_.append(value.data(), value.size());
    has_data_ = true;
  } else if (field == "event") {
    event_type_ = std::string(value);
  } else if (field == "id") {
    if (value.find('\0') == absl::string_view::npos) last_id_ = std::string(value);
  }
  // "retry" and unknown fields are ignored: this client does not reconnect.
  return absl::OkStatus();
}

}  // namespace spine::llm
