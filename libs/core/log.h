// Structured logging: one JSON object per line on stderr, through spdlog.
//
// Every line has `ts` (RFC 3339, milliseconds, UTC), `level`, `service`, `msg`, plus
// `request_id` / `trace_id` when the caller knows them and any extra fields. Thread-safe.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace spine::log {

enum class Level { kTrace, kDebug, kInfo, kWarn, kError };

using Fields = std::vector<std::pair<std::string, std::string>>;

// Configures the process logger. `level` is one of trace, debug, info, warn, error, off.
void Init(absl::string_view service, absl::string_view level);

// Formats one log line (without the newline). Strings are escaped per JSON; invalid UTF-8 is
// replaced with U+FFFD rather than dropped, so a line is always valid JSON.
std::string FormatLine(absl::Time ts, Level level, absl::string_view service, absl::string_view msg,
                       const Fields& fields);

void Write(Level level, absl::string_view msg, const Fields& fields = {});
inline void Debug(absl::string_view msg, const Fields& fields = {}) {
  Write(Level::kDebug, msg, fields);
}
inline void Info(absl::string_view msg, const Fields& fields = {}) {
  Write(Level::kInfo, msg, fields);
}
inline void Warn(absl::string_view msg, const Fields& fields = {}) {
  Write(Level::kWarn, msg, fields);
}
inline void Error(absl::string_view msg, const Fields& fields = {}) {
  Write(Level::kError, msg, fields);
}

}  // namespace spine::log
