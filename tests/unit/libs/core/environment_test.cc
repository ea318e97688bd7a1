#include "libs/core/environment.h"

#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace spine {
namespace {

template <typename T>
T Unwrap(absl::StatusOr<T> value) {
  INFO(value.status().ToString());
  REQUIRE(value.ok());
  return *std::move(value);
}

Environment::Vars Parse(absl::string_view text) { return Unwrap(ParseDotenv(text)); }

// The error ParseDotenv gives for `text`, which must be INVALID_ARGUMENT.
std::string ParseError(absl::string_view text) {
  absl::StatusOr<Environment::Vars> vars = ParseDotenv(text);
  REQUIRE_FALSE(vars.ok());
  CHECK(vars.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(vars.status().message());
}

TEST_CASE("dotenv parsing reads KEY=VALUE lines") {
  const Environment::Vars vars = Parse("A=1\nB=two words\nC=\n");
  CHECK(vars == Environment::Vars{{"A", "1"}, {"B", "two words"}, {"C", ""}});
}

TEST_CASE("dotenv parsing of empty text gives no variables") {
  CHECK(Parse("").empty());
  CHECK(Parse("\n\n   \n").empty());
}

TEST_CASE("dotenv parsing skips comments and blank lines") {
  const Environment::Vars vars = Parse(
      "# a comment\n"
      "\n"
      "A=1\n"
      "   # an indented comment\n"
      "\t\n"
      "#B=commented out\n"
      "C=3");
  CHECK(vars == Environment::Vars{{"A", "1"}, {"C", "3"}});
}

TEST_CASE("dotenv parsing accepts an export prefix") {
  const Environment::Vars vars = Parse("export A=1\n  export B=2\n");
  CHECK(vars == Environment::Vars{{"A", "1"}, {"B", "2"}});
}

TEST_CASE("dotenv parsing trims whitespace around the name, the value and CRLF line ends") {
  const Environment::Vars vars = Parse("A = 1 \r\n  B=2\r\n");
  CHECK(vars == Environment::Vars{{"A", "1"}, {"B", "2"}});
}

TEST_CASE("dotenv parsing keeps everything after the first equals sign") {
  CHECK(Parse("URL=postgres://u:p@h/db?a=b")["URL"] == "postgres://u:p@h/db?a=b");
}

TEST_CASE("dotenv parsing strips double and single quotes") {
  const Environment::Vars vars = Parse(
      "A=\"hello world\"\n"
      "B='single quoted'\n"
      "C=\"\"\n"
      "D='  padded  '\n");
  CHECK(vars.at("A") == "hello world");
  CHECK(vars.at("B") == "single quoted");
  CHECK(vars.at("C").empty());
  CHECK(vars.at("D") == "  padded  ");
}

TEST_CASE("dotenv parsing keeps a hash inside quotes") {
  const Environment::Vars vars = Parse("A=\"x # not a comment\"\nB='y # nor this'\n");
  CHECK(vars.at("A") == "x # not a comment");
  CHECK(vars.at("B") == "y # nor this");
}

TEST_CASE("dotenv parsing drops an inline comment that follows a space") {
  const Environment::Vars vars = Parse("A=value # trailing comment\nB=va#lue\nC=spaced   # x\n");
  CHECK(vars.at("A") == "value");
  CHECK(vars.at("B") == "va#lue");
  CHECK(vars.at("C") == "spaced");
}

TEST_CASE("dotenv parsing lets a later line override an earlier one") {
  CHECK(Parse("A=1\nA=2\n").at("A") == "2");
}

TEST_CASE("a dotenv line without an equals sign is an error naming the line number") {
  const std::string error = ParseError("A=1\n# comment\n\nthis is not a pair\nB=2\n");
  CHECK_THAT(error, Catch::Contains("line 4"));
  CHECK_THAT(error, Catch::Contains("KEY=VALUE"));
}

TEST_CASE("a dotenv line with a bad variable name is an error naming the line and the name") {
  const auto [text, name] = GENERATE(table<const char*, const char*>({
      {"1ABC=x", "1ABC"},
      {"A-B=x", "A-B"},
      {"A.B=x", "A.B"},
      {"MY VAR=x", "MY VAR"},
  }));
  const std::string error = ParseError(absl::StrCat("OK=1\n", text));
  INFO(error);
  CHECK_THAT(error, Catch::Contains("line 2"));
  CHECK_THAT(error, Catch::Contains(name));
}

TEST_CASE("a dotenv line with an empty variable name is an error") {
  CHECK_THAT(ParseError("=value"), Catch::Contains("line 1"));
}

TEST_CASE("a dotenv value with an unterminated quote is an error naming the line") {
  CHECK_THAT(ParseError("A=1\nB=\"abc\n"), Catch::Contains("line 2"));
  CHECK_THAT(ParseError("B='abc"), Catch::Contains("line 1"));
}

TEST_CASE("the process environment wins over the .env file") {
  const Environment env =
      Unwrap(Environment::FromParts({{"SPINE_X", "from-env"}}, "SPINE_X=from-file\n"));
  CHECK(env.Get("SPINE_X") == std::optional<std::string>("from-env"));
}

TEST_CASE("the .env file supplies a variable the process environment lacks") {
  const Environment env = Unwrap(Environment::FromParts({{"SPINE_A", "a"}}, "SPINE_B=from-file\n"));
  CHECK(env.Get("SPINE_A") == std::optional<std::string>("a"));
  CHECK(env.Get("SPINE_B") == std::optional<std::string>("from-file"));
}

TEST_CASE("a variable set to the empty string in the process environment still wins") {
  const Environment env = Unwrap(Environment::FromParts({{"SPINE_X", ""}}, "SPINE_X=from-file\n"));
  CHECK(env.Get("SPINE_X") == std::optional<std::string>(""));
}

TEST_CASE("a variable set nowhere is absent") {
  const Environment env = Unwrap(Environment::FromParts({{"SPINE_A", "a"}}, "SPINE_B=b\n"));
  CHECK(env.Get("SPINE_MISSING") == std::nullopt);
  CHECK(env.Get("") == std::nullopt);
}

TEST_CASE("building an environment from a malformed .env fails with the parse error") {
  const absl::StatusOr<Environment> env = Environment::FromParts({}, "A=1\nbroken\n");
  REQUIRE_FALSE(env.ok());
  CHECK(env.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(env.status().message()), Catch::Contains("line 2"));
}

}  // namespace
}  // namespace spine
