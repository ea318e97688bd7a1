#include "services/llm/backends/ndjson_parser.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

namespace spine::llm {
namespace {

// Feeds `input` in pieces of `step` bytes and collects every line (plus the unterminated one).
std::vector<std::string> LinesInSteps(const std::string& input, size_t step) {
  NdjsonParser parser;
  std::vector<std::string> all;
  for (size_t i = 0; i < input.size(); i += step) {
    auto lines = parser.Feed(absl::string_view(input).substr(i, step));
    REQUIRE(lines.ok());
    all.insert(all.end(), lines->begin(), lines->end());
  }
  auto last = parser.Finish();
  REQUIRE(last.ok());
  if (!last->empty()) all.push_back(*last);
  return all;
}

TEST_CASE("ndjson lines come out whole whatever the chunk boundaries") {
  const std::string input =
      "{\"a\":1}\n{\"b\":\"x\\ny\"}\r\n\n\n{\"c\":[1,2,3]}\n{\"d\":\"\xC3\xA9\"}";
  const std::vector<std::string> expected = {"{\"a\":1}", "{\"b\":\"x\\ny\"}", "{\"c\":[1,2,3]}",
                                             "{\"d\":\"\xC3\xA9\"}"};
  for (size_t step = 1; step <= input.size(); ++step) {
    INFO("step " << step);
    CHECK(LinesInSteps(input, step) == expected);
  }
}

TEST_CASE("ndjson empty chunks and blank lines produce nothing") {
  NdjsonParser parser;
  CHECK(parser.Feed("")->empty());
  CHECK(parser.Feed("\n\r\n\n")->empty());
  CHECK(parser.Finish()->empty());
}

TEST_CASE("ndjson refuses a line over the limit, even when it never ends") {
  NdjsonParser parser(8);
  CHECK(parser.Feed("12345678\n")->size() == 1);
  CHECK(parser.Feed("12345678\r\n")->size() == 1);
  CHECK(parser.Feed("1234")->empty());
  CHECK(parser.Feed("5678")->empty());
  const auto too_long = parser.Feed("90");
  REQUIRE_FALSE(too_long.ok());
  CHECK(too_long.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(parser.Feed("\n").status() == too_long.status());  // the error sticks
  CHECK_FALSE(parser.Finish().ok());
}

TEST_CASE("ndjson refuses a one-MiB-plus line fed in small chunks by default") {
  NdjsonParser parser;
  const std::string piece(4096, 'x');
  absl::Status status;
  for (int i = 0; i <= 257 && status.ok(); ++i) status = parser.Feed(piece).status();
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace spine::llm
