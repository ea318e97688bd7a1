#include "libs/core/log.h"

#include <catch2/catch.hpp>
#include <regex>
#include <string>

#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace spine::log {
namespace {

using Json = nlohmann::json;

const absl::Time kTs = absl::FromUnixMillis(1700000000123);
constexpr char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD in UTF-8

// Parses one formatted line, failing the test when it is not a single line of JSON.
Json ParseLine(const std::string& line) {
  INFO(line);
  CHECK(line.find('\n') == std::string::npos);
  CHECK(line.find('\r') == std::string::npos);
  for (unsigned char c : line) {
    INFO(static_cast<int>(c));
    REQUIRE(c >= 0x20);  // JSON forbids raw control characters inside strings
  }
  REQUIRE(Json::accept(line));
  Json parsed = Json::parse(line);
  REQUIRE(parsed.is_object());
  return parsed;
}

TEST_CASE("a log line is one JSON object with ts, level, service and msg") {
  const std::string line = FormatLine(kTs, Level::kInfo, "storage", "started", {});
  const Json parsed = ParseLine(line);
  CHECK(parsed == Json{{"ts", "2023-11-14T22:13:20.123Z"},
                       {"level", "info"},
                       {"service", "storage"},
                       {"msg", "started"}});
}

TEST_CASE("log line fields come in a fixed order starting with ts") {
  const std::string line = FormatLine(kTs, Level::kWarn, "llm", "m", {{"request_id", "r1"}});
  CHECK(
      line ==
      R"({"ts":"2023-11-14T22:13:20.123Z","level":"warn","service":"llm","msg":"m","request_id":"r1"})");
}

TEST_CASE("log timestamps are RFC 3339 in UTC with exactly three fractional digits") {
  const auto [ts, expected] = GENERATE(table<absl::Time, const char*>({
      {absl::FromUnixMillis(1700000000123), "2023-11-14T22:13:20.123Z"},
      {absl::FromUnixSeconds(1700000000), "2023-11-14T22:13:20.000Z"},
      {absl::FromUnixMillis(5), "1970-01-01T00:00:00.005Z"},
      {absl::FromUnixMicros(1700000000999999), "2023-11-14T22:13:20.999Z"},  // truncated
      {absl::FromUnixMillis(951782400000), "2000-02-29T00:00:00.000Z"},
  }));
  const Json parsed = ParseLine(FormatLine(ts, Level::kInfo, "s", "m", {}));
  const std::string formatted = parsed.at("ts").get<std::string>();
  CHECK(formatted == expected);
  CHECK(std::regex_match(formatted, std::regex(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)")));
}

TEST_CASE("each log level has its lowercase name") {
  const auto [level, name] = GENERATE(table<Level, const char*>({
      {Level::kTrace, "trace"},
      {Level::kDebug, "debug"},
      {Level::kInfo, "info"},
      {Level::kWarn, "warn"},
      {Level::kError, "error"},
  }));
  CHECK(ParseLine(FormatLine(kTs, level, "s", "m", {})).at("level") == name);
}

TEST_CASE("extra log fields such as request_id appear as string members") {
  const Json parsed = ParseLine(
      FormatLine(kTs, Level::kDebug, "gateway", "rpc",
                 {{"request_id", "abc-123"}, {"trace_id", "t-9"}, {"duration_ms", "12"}}));
  CHECK(parsed.size() == 7);
  CHECK(parsed.at("request_id") == "abc-123");
  CHECK(parsed.at("trace_id") == "t-9");
  CHECK(parsed.at("duration_ms") == "12");
  CHECK(parsed.at("msg") == "rpc");
}

TEST_CASE("a log message with quotes, backslashes and control characters round-trips") {
  const std::string msg =
      "say \"hi\" \\ back\\slash\nsecond line\r\n\ttabbed\x01 and \x1f end \x7f "
      "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80";
  const std::string line = FormatLine(kTs, Level::kError, "svc", msg, {{"detail", msg}});
  const Json parsed = ParseLine(line);
  CHECK(parsed.at("msg").get<std::string>() == msg);
  CHECK(parsed.at("detail").get<std::string>() == msg);
}

TEST_CASE("a log message with an embedded NUL byte round-trips") {
  const std::string msg("a\0b", 3);
  const Json parsed = ParseLine(FormatLine(kTs, Level::kInfo, "svc", msg, {}));
  CHECK(parsed.at("msg").get<std::string>() == msg);
}

TEST_CASE("invalid UTF-8 in a log message becomes U+FFFD and the rest survives") {
  const auto [input, expected] = GENERATE(table<std::string, std::string>({
      {"ok\xff\xfe"
       "end",
       std::string("ok") + kReplacement + kReplacement + "end"},
      {"euro\xE2\x82"
       "x",
       std::string("euro") + kReplacement + "x"},            // truncated 3-byte
      {"tail\xE2\x82", std::string("tail") + kReplacement},  // truncated at end
      {"\x80"
       "lead",
       std::string(kReplacement) + "lead"},                  // stray continuation
      {"line\n\xC3", std::string("line\n") + kReplacement},  // newline kept
      {"\xC3\xA9\xff\xC3\xA9", std::string("\xC3\xA9") + kReplacement + "\xC3\xA9"},
  }));
  const std::string line = FormatLine(kTs, Level::kWarn, "svc", input, {{"field", input}});
  const Json parsed = ParseLine(line);
  CHECK(parsed.at("msg").get<std::string>() == expected);
  CHECK(parsed.at("field").get<std::string>() == expected);
  CHECK(parsed.at("service") == "svc");
}

TEST_CASE("invalid UTF-8 in a service name or field key still gives valid JSON") {
  const Json parsed =
      ParseLine(FormatLine(kTs, Level::kInfo, "bad\xff", "m", {{"key\xfe\"", "value"}}));
  CHECK(parsed.at("service").get<std::string>() == std::string("bad") + kReplacement);
  CHECK(parsed.at(std::string("key") + kReplacement + "\"") == "value");
}

}  // namespace
}  // namespace spine::log
