// The worker protocol parsers against what a hostile plugin can print.
#include "services/plugins/host/worker_protocol.h"

#include <catch2/catch.hpp>
#include <string>

#include "absl/strings/match.h"
#include "libs/core/utf8.h"
#include "libs/rpc/error_info.h"

namespace spine::plugins {
namespace {

std::string ReasonOf(const absl::Status& status) {
  auto info = rpc::GetErrorInfo(status);
  return info ? info->reason() : "";
}

}  // namespace

TEST_CASE("the hello line is ready, a load failure, or bad output") {
  CHECK(ParseHello("p", R"({"ready":true})").ok());
  const absl::Status fatal = ParseHello("p", R"({"fatal":"no function exported"})");
  CHECK(fatal.code() == absl::StatusCode::kInternal);
  CHECK(ReasonOf(fatal) == "PLUGIN_ERROR");
  CHECK(absl::StrContains(fatal.message(), "no function exported"));
  for (const char* line :
       {"", "ready", R"({"ready":false})", R"({"ready":true,"x":1})", "[[[[[["}) {
    INFO(line);
    CHECK(ReasonOf(ParseHello("p", line)) == "PLUGIN_BAD_OUTPUT");
  }
}

TEST_CASE("an answer gives its output, logs, error or bad-output verdict") {
  const Answer ok =
      ParseAnswer("p", R"({"id":3,"output":{"a":[1,"x"]},"logs":["l1","l2"]})", 3, 100);
  REQUIRE(ok.output.ok());
  CHECK(*ok.output == R"({"a":[1,"x"]})");
  CHECK(ok.logs == std::vector<std::string>{"l1", "l2"});
  CHECK(ok.worker_ok);

  const Answer threw = ParseAnswer("p", R"({"id":3,"error":"boom","logs":[]})", 3, 100);
  CHECK(ReasonOf(threw.output.status()) == "PLUGIN_ERROR");
  CHECK(absl::StrContains(threw.output.status().message(), "boom"));
  CHECK(threw.worker_ok);  // a plugin that threw is still a healthy worker

  const Answer not_json = ParseAnswer("p", R"({"id":3,"badOutput":"cyclic","logs":[]})", 3, 100);
  CHECK(ReasonOf(not_json.output.status()) == "PLUGIN_BAD_OUTPUT");
  CHECK(not_json.worker_ok);

  const Answer big = ParseAnswer("p", R"({"id":3,"output":"0123456789"})", 3, 10);
  CHECK(ReasonOf(big.output.status()) == "PLUGIN_BAD_OUTPUT");
  CHECK(ParseAnswer("p", R"({"id":3,"output":"01234567"})", 3, 10).output.ok());
}

TEST_CASE("a line that is not the answer to this request ends the worker") {
  for (const std::string& line :
       {std::string("garbage"), std::string(R"({"id":4,"output":1})"),
        std::string(R"({"id":"3","output":1})"), std::string(R"({"output":1})"),
        std::string(R"({"id":3,"logs":[]})"), std::string("[1,2]"),
        R"({"id":3,"output":)" + std::string(100, '[') + std::string(100, ']') + "}"}) {
    INFO(line);
    const Answer answer = ParseAnswer("p", line, 3, 1 << 20);
    CHECK_FALSE(answer.worker_ok);
    CHECK(ReasonOf(answer.output.status()) == "PLUGIN_BAD_OUTPUT");
  }
}

TEST_CASE("logs are bounded and always valid UTF-8") {
  std::string many = R"({"id":1,"output":null,"logs":[)";
  for (int i = 0; i < 200; ++i)
    many += (i == 0 ? "" : ",") + std::string("\"") + std::string(2000, 'x') + "\"";
  many += "]}";
  const Answer answer = ParseAnswer("p", many, 1, 100);
  REQUIRE(answer.logs.size() == 101);
  CHECK(answer.logs[0].size() == 1000);

  // A 1000-byte cut inside a three-byte sequence keeps whole characters only.
  std::string euro;
  for (int i = 0; i < 400; ++i) euro += "\xE2\x82\xAC";
  const std::string cut = CleanText(euro, 1000);
  CHECK(cut.size() == 999);
  CHECK(CheckUtf8(cut).valid);
  CHECK(CleanText("a\xFF"
                  "b",
                  100) ==
        "a\xEF\xBF\xBD"
        "b");
  CHECK(CleanText("abc", 2) == "ab");
}

}  // namespace spine::plugins
