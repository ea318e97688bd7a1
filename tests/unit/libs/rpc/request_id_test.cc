#include "libs/rpc/request_id.h"

#include <catch2/catch.hpp>
#include <string>

#include "absl/strings/string_view.h"

namespace spine::rpc {
namespace {

TEST_CASE("request ids of 1 to 128 allowed characters are valid") {
  CHECK(IsValidRequestId("a"));
  CHECK(IsValidRequestId("0123456789abcdef0123456789abcdef"));
  CHECK(IsValidRequestId("ABCxyz-09_.:"));
  CHECK(IsValidRequestId("req.2024-01-01T00:00:00_x"));
  CHECK(IsValidRequestId(std::string(128, 'x')));
}

TEST_CASE("an empty request id is invalid") { CHECK_FALSE(IsValidRequestId("")); }

TEST_CASE("a request id longer than 128 characters is invalid") {
  CHECK_FALSE(IsValidRequestId(std::string(129, 'x')));
  CHECK_FALSE(IsValidRequestId(std::string(4096, 'a')));
}

TEST_CASE("each of the punctuation characters . _ : - is allowed on its own") {
  const char* id = GENERATE(".", "_", ":", "-");
  CHECK(IsValidRequestId(id));
}

TEST_CASE("request ids with other characters are invalid") {
  const std::string id =
      GENERATE(as<std::string>{}, "has space", "line\nbreak", "tab\there", "cr\r", "semi;colon",
               "slash/", "back\\slash", "quote\"", "comma,", "plus+", "equals=", "at@", "percent%",
               "caf\xC3\xA9", "\xE2\x82\xAC", "trailing ");
  INFO(id);
  CHECK_FALSE(IsValidRequestId(id));
}

TEST_CASE("a request id with an embedded NUL byte is invalid") {
  CHECK_FALSE(IsValidRequestId(absl::string_view("ab\0cd", 5)));
}

TEST_CASE("a new request id is 32 lowercase hex characters and itself valid") {
  const std::string id = NewRequestId();
  INFO(id);
  CHECK(id.size() == 32);
  for (char c : id) CHECK(((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')));
  CHECK(IsValidRequestId(id));
}

TEST_CASE("two new request ids differ") {
  const std::string first = NewRequestId();
  const std::string second = NewRequestId();
  CHECK(first != second);
}

}  // namespace
}  // namespace spine::rpc
