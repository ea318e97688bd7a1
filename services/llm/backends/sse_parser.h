// SseParser: turns a text/event-stream (the OpenAI-compatible streaming replies) into events,
// whatever the chunk boundaries of the transport. Follows the WHATWG event-stream grammar:
// lines end in "\r\n", "\n" or "\r"; a blank line dispatches the event; ":" starts a comment;
// "data" lines of one event are joined with "\n"; a leading UTF-8 BOM is skipped.
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

struct SseEvent {
  std::string event{};  // "message" unless an "event:" field named another type
  std::string data{};
  std::string id{};  // the last "id:" seen in the stream so far
};

class SseParser {
 public:
  static constexpr size_t kDefaultMaxLineBytes = size_t{1} << 20;  // 1 MiB

  // `max_line_bytes` bounds one line and also the data of one event.
  explicit SseParser(size_t max_line_bytes = kDefaultMaxLineBytes)
      : max_line_bytes_(max_line_bytes) {}

  // Appends `chunk` and returns the events it completed, in order. Events with no data are not
  // dispatched (as in the grammar). A line or an event's data longer than the limit is
  // INVALID_ARGUMENT, and every later call returns that error too. An event cut off by the end
  // of the stream is never returned.
  absl::StatusOr<std::vector<SseEvent>> Feed(absl::string_view chunk);

 private:
  absl::Status Fail();
  absl::Status ProcessLine(absl::string_view line, std::vector<SseEvent>& events);

  size_t max_line_bytes_;
  std::string line_;        // the incomplete line so far
  bool after_cr_ = false;   // the last byte seen was a "\r" ending a line
  bool at_start_ = true;    // nothing seen yet (for the BOM)
  size_t bom_matched_ = 0;  // bytes of a leading BOM seen so far
  std::string event_type_;  // fields of the event being built
  std::string data_;
  bool has_data_ = false;
  std::string last_id_;
  absl::Status error_;  // sticky once a limit is broken
};

}  // namespace spine::llm
