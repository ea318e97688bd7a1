#include "libs/auth/base64url.h"

#include <catch2/catch.hpp>
#include <string>

namespace spine {
namespace {

TEST_CASE("base64url encodes the RFC 4648 vectors without padding") {
  CHECK(Base64UrlEncode("") == "");
  CHECK(Base64UrlEncode("f") == "Zg");
  CHECK(Base64UrlEncode("fo") == "Zm8");
  CHECK(Base64UrlEncode("foo") == "Zm9v");
  CHECK(Base64UrlEncode("foob") == "Zm9vYg");
  CHECK(Base64UrlEncode("fooba") == "Zm9vYmE");
  CHECK(Base64UrlEncode("foobar") == "Zm9vYmFy");
}

TEST_CASE("base64url uses the URL alphabet") {
  CHECK(Base64UrlEncode("\xfb\xff") == "-_8");
  CHECK(Base64UrlEncode(std::string("\xff\xff\xff", 3)) == "____");
  CHECK(Base64UrlEncode(std::string("\xfb\xef\xbe", 3)) == "----");
}

TEST_CASE("base64url round-trips every length and byte value") {
  std::string data;
  for (int i = 0; i < 300; ++i) {
    const std::string encoded = Base64UrlEncode(data);
    CHECK(encoded.find_first_of("+/=") == std::string::npos);
    const auto decoded = Base64UrlDecodeStrict(encoded);
    REQUIRE(decoded.ok());
    CHECK(*decoded == data);
    data.push_back(static_cast<char>((i * 37 + 11) & 0xff));
  }
}

TEST_CASE("base64url decodes the empty string to empty") {
  const auto decoded = Base64UrlDecodeStrict("");
  REQUIRE(decoded.ok());
  CHECK(decoded->empty());
}

TEST_CASE("base64url decoder rejects padding") {
  CHECK(Base64UrlDecodeStrict("Zg").ok());
  CHECK_FALSE(Base64UrlDecodeStrict("Zg==").ok());
  CHECK_FALSE(Base64UrlDecodeStrict("Zm8=").ok());
  CHECK_FALSE(Base64UrlDecodeStrict("Zm9v====").ok());
  CHECK_FALSE(Base64UrlDecodeStrict("Zm=v").ok());
  CHECK(Base64UrlDecodeStrict("Zg==").status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("base64url decoder rejects characters outside the URL alphabet") {
  CHECK(Base64UrlDecodeStrict("-_8").ok());
  CHECK_FALSE(Base64UrlDecodeStrict("+/8").ok());  // standard alphabet for the same bytes
  CHECK_FALSE(Base64UrlDecodeStrict("Zm9v+g").ok());
  CHECK_FALSE(Base64UrlDecodeStrict("Zm9v/g").ok());
  CHECK_FALSE(Base64UrlDecodeStrict("Zm 9v").ok());
  CHECK_FALSE(Base64UrlDecodeStrict("Zm9v\n").ok());
  CHECK_FALSE(Base64UrlDecodeStrict(std::string("Zm\0v", 4)).ok());
  CHECK_FALSE(Base64UrlDecodeStrict("Zm9\xc3\xa9").ok());
  CHECK_FALSE(Base64UrlDecodeStrict("Zm9.").ok());
}

TEST_CASE("base64url decoder rejects a length of 1 mod 4") {
  CHECK_FALSE(Base64UrlDecodeStrict("Z").ok());
  CHECK_FALSE(Base64UrlDecodeStrict("Zm9vY").ok());
  CHECK_FALSE(Base64UrlDecodeStrict("Zm9vYmFyZ").ok());
}

TEST_CASE("base64url decoder rejects non-zero trailing bits") {
  // "Zg" is the canonical spelling of "f"; "Zh".."Zv" carry the same byte plus stray low bits.
  CHECK(Base64UrlDecodeStrict("Zg").ok());
  CHECK_FALSE(Base64UrlDecodeStrict("Zh").ok());
  CHECK_FALSE(Base64UrlDecodeStrict("Zv").ok());
  // "Zm8" is canonical for "fo"; "Zm9" sets one of the two unused bits.
  CHECK(Base64UrlDecodeStrict("Zm8").ok());
  CHECK_FALSE(Base64UrlDecodeStrict("Zm9").ok());
  CHECK_FALSE(Base64UrlDecodeStrict("Zm_").ok());
}

}  // namespace
}  // namespace spine
