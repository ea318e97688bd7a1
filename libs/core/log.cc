#include "libs/core/log.h"

#include <memory>

#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace spine::log {
namespace {

struct LoggerState {
  absl::Mutex mu;
  std::string service ABSL_GUARDED_BY(mu) = "spine";
  std::shared_ptr<spdlog::logger> logger ABSL_GUARDED_BY(mu);
};

LoggerState& State() {
  static LoggerState state;
  return state;
}

spdlog::level::level_enum ToSpd(Level level) {
  switch (level) {
    case Level::kTrace:
      return spdlog::level::trace;
    case Level::kDebug:
      return spdlog::level::debug;
    case Level::kInfo:
      return spdlog::level::info;
    case Level::kWarn:
      return spdlog::level::warn;
    case Level::kError:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

absl::string_view LevelName(Level level) {
  switch (level) {
    case Level::kTrace:
      return "trace";
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}

std::shared_ptr<spdlog::logger> MakeLogger() {
  auto logger =
      std::make_shared<spdlog::logger>("spine", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_pattern("%v");  // the line is already a complete JSON object
  logger->flush_on(spdlog::level::trace);
  return logger;
}

}  // namespace

void Init(absl::string_view service, absl::string_view level) {
  LoggerState& state = State();
  absl::MutexLock lock(&state.mu);
  state.service = std::string(service);
  if (!state.logger) state.logger = MakeLogger();
  state.logger->set_level(spdlog::level::from_str(std::string(level)));
}

std::string FormatLine(absl::Time ts, Level level, absl::string_view service, absl::string_view msg,
                       const Fields& fields) {
  nlohmann::ordered_json line;
  line["ts"] = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", ts, absl::UTCTimeZone());
  line["level"] = std::string(LevelName(level));
  line["service"] = std::string(service);
  line["msg"] = std::string(msg);
  for (const auto& [key, value] : fields) {
    // A field may not overwrite the standard members; it keeps its value under another name.
    const bool reserved = key == "ts" || key == "level" || key == "service" || key == "msg";
    line[reserved ? "field_" + key : key] = value;
  }
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void Write(Level level, absl::string_view msg, const Fields& fields) {
  LoggerState& state = State();
  std::shared_ptr<spdlog::logger> logger;
  std::string service;
  {
    absl::MutexLock lock(&state.mu);
    if (!state.logger) state.logger = MakeLogger();
    logger = state.logger;
    service = state.service;
  }
  if (!logger->should_log(ToSpd(level))) return;
  logger->log(ToSpd(level), "{}", FormatLine(absl::Now(), level, service, msg, fields));
}

}  // namespace spine::log
