#include "services/llm/backends/sse_parser.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

namespace spine::llm {
namespace {

std::vector<SseEvent> EventsInSteps(const std::string& input, size_t step) {
  SseParser parser;
  std::vector<SseEvent> all;
  for (size_t i = 0; i < input.size(); i += step) {
    auto events = parser.Feed(absl::string_view(input).substr(i, step));
    REQUIRE(events.ok());
    all.insert(all.end(), events->begin(), events->end());
  }
  return all;
}

std::vector<std::string> Data(const std::vector<SseEvent>& events) {
  std::vector<std::string> data;
  data.reserve(events.size());
  for (const SseEvent& event : events) data.push_back(event.data);
  return data;
}

TEST_CASE("sse events come out whole whatever the chunk boundaries and line endings") {
  const std::string input =
      "\xEF\xBB\xBF: keep-alive comment\r\n"
      "data: {\"n\":1}\r\n\r\n"
      "data:{\"n\":2}\n\n"
      "event: ping\rdata: a\rdata:  b\r\r"
      "id: 7\ndata\n\n"
      "retry: 10\nunknown: x\n\n"
      "data: [DONE]\r\n\r\n"
      "data: cut off by the end";
  for (size_t step = 1; step <= input.size(); ++step) {
    INFO("step " << step);
    const std::vector<SseEvent> events = EventsInSteps(input, step);
    REQUIRE(Data(events) ==
            std::vector<std::string>{"{\"n\":1}", "{\"n\":2}", "a\n b", "", "[DONE]"});
    CHECK(events[0].event == "message");
    CHECK(events[2].event == "ping");
    CHECK(events[3].id == "7");
    CHECK(events[4].id == "7");
  }
}

TEST_CASE("sse a CR at the end of a chunk and an LF at the start of the next end one line") {
  SseParser parser;
  CHECK(parser.Feed("data: x\r")->empty());
  CHECK(parser.Feed("\n\r")->size() == 1);
  CHECK(parser.Feed("\n")->empty());  // the LF of the blank line's CRLF, not another line
  CHECK(Data(*parser.Feed("data: y\n\n")) == std::vector<std::string>{"y"});
}

TEST_CASE("sse bytes that only start like a BOM are kept") {
  CHECK(Data(EventsInSteps("\xEF\xBB"
                           "data: z\n\n",
                           1))
            .empty());  // the field is "\xEF\xBBdata"
  CHECK(Data(EventsInSteps("\xEF\xBB\xBF\xEF\xBB\xBF"
                           "data: z\n\n",
                           1))
            .empty());
}

TEST_CASE("sse refuses a line or an event over the limit") {
  SECTION("a line that never ends") {
    SseParser parser(8);
    CHECK(parser.Feed("data: 12")->empty());
    const auto result = parser.Feed("3");
    REQUIRE_FALSE(result.ok());
    CHECK(result.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_FALSE(parser.Feed("\n\n").ok());  // the error sticks
  }
  SECTION("an event of many short data lines") {
    SseParser parser(10);
    CHECK(parser.Feed("data: 123\ndata: 456\n")->empty());
    CHECK_FALSE(parser.Feed("data: 789\n").ok());
  }
}

}  // namespace
}  // namespace spine::llm
