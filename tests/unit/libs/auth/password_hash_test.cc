#include "libs/auth/password_hash.h"

#include <catch2/catch.hpp>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace spine {
namespace {

// The cheapest parameters verification accepts, so each test hash takes milliseconds.
constexpr ScryptParams kFast{.log2_n = 10, .r = 8, .p = 1};

template <typename T>
T Unwrap(absl::StatusOr<T> value) {
  INFO(value.status().ToString());
  REQUIRE(value.ok());
  return *std::move(value);
}

std::string FastHash(absl::string_view password) {
  return Unwrap(HashPasswordForTesting(std::string_view(password.data(), password.size()), kFast));
}

// "", "scrypt", "ln=..,r=..,p=..", salt, key.
std::vector<std::string> Parts(absl::string_view encoded) { return absl::StrSplit(encoded, '$'); }

std::string Join(const std::vector<std::string>& parts) { return absl::StrJoin(parts, "$"); }

std::string Repeat(absl::string_view unit, int times) {
  std::string out;
  for (int i = 0; i < times; ++i) absl::StrAppend(&out, unit);
  return out;
}

TEST_CASE("a password verifies against its own hash") {
  const std::string encoded = FastHash("correct horse battery staple");
  CHECK(Unwrap(VerifyPassword("correct horse battery staple", encoded)));
}

TEST_CASE("a wrong password does not verify") {
  const std::string encoded = FastHash("correct horse battery staple");
  CHECK_FALSE(Unwrap(VerifyPassword("correct horse battery stapler", encoded)));
  CHECK_FALSE(Unwrap(VerifyPassword("", encoded)));
}

TEST_CASE("an empty or non-ASCII password still hashes and verifies") {
  CHECK(Unwrap(VerifyPassword("", FastHash(""))));
  CHECK(Unwrap(VerifyPassword("pässwörd 密码 🔑", FastHash("pässwörd 密码 🔑"))));
}

TEST_CASE("two hashes of one password differ by their salt") {
  const std::string first = FastHash("same password twice");
  const std::string second = FastHash("same password twice");
  CHECK(first != second);
  CHECK(Parts(first)[3] != Parts(second)[3]);
  CHECK(Unwrap(VerifyPassword("same password twice", first)));
  CHECK(Unwrap(VerifyPassword("same password twice", second)));
}

TEST_CASE("the encoding carries its parameters and verification uses them") {
  const std::string encoded =
      Unwrap(HashPasswordForTesting("parameterised", ScryptParams{.log2_n = 10, .r = 4, .p = 2}));
  const std::vector<std::string> parts = Parts(encoded);
  REQUIRE(parts.size() == 5);
  CHECK(parts[0].empty());
  CHECK(parts[1] == "scrypt");
  CHECK(parts[2] == "ln=10,r=4,p=2");
  CHECK(parts[3].size() == 22);  // 16 bytes of salt, unpadded base64url
  CHECK(parts[4].size() == 43);  // 32 bytes of key
  CHECK(Unwrap(VerifyPassword("parameterised", encoded)));

  // The same salt and key under other parameters no longer match: verify read them from the text.
  std::vector<std::string> changed = parts;
  changed[2] = "ln=11,r=4,p=2";
  CHECK_FALSE(Unwrap(VerifyPassword("parameterised", Join(changed))));
  changed[2] = "ln=10,r=4,p=1";
  CHECK_FALSE(Unwrap(VerifyPassword("parameterised", Join(changed))));
}

TEST_CASE("the production default is at least N = 2^15") {
  const ScryptParams defaults;
  CHECK(defaults.log2_n >= 15);
  CHECK(kScryptProductionMinLog2N >= 15);
  const std::string encoded = Unwrap(HashPassword("production strength"));
  CHECK(absl::StartsWith(encoded, "$scrypt$ln=15,r=8,p=1$"));
  CHECK(Unwrap(VerifyPassword("production strength", encoded)));
}

TEST_CASE("HashPassword refuses parameters weaker than production") {
  const absl::StatusOr<std::string> weak = HashPassword("too cheap", kFast);
  CHECK(weak.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(weak.status().message() == "scrypt params: ln=10 outside 15..20");
}

TEST_CASE("the test-only hash still refuses parameters outside the verification bounds") {
  const std::vector<std::pair<ScryptParams, std::string>> cases = {
      {{.log2_n = 9, .r = 8, .p = 1}, "scrypt params: ln=9 outside 10..20"},
      {{.log2_n = 10, .r = 0, .p = 1}, "scrypt params: r=0 outside 1..32"},
      {{.log2_n = 10, .r = 8, .p = 17}, "scrypt params: p=17 outside 1..16"},
      {{.log2_n = 16, .r = 1, .p = 1}, "scrypt params: ln=16 needs r > 1, got r=1"},
      {{.log2_n = 20, .r = 8, .p = 1}, "scrypt params: ln=20,r=8,p=1 needs 1024 MiB, at most 64"},
  };
  for (const auto& [params, message] : cases) {
    const absl::StatusOr<std::string> hashed = HashPasswordForTesting("whatever", params);
    CHECK(hashed.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(hashed.status().message() == message);
  }
}

TEST_CASE("garbled or tampered encodings are errors, not crashes") {
  const std::string valid = FastHash("tamper target");
  const std::vector<std::string> parts = Parts(valid);
  REQUIRE(parts.size() == 5);
  const std::string& salt = parts[3];
  const std::string& key = parts[4];
  const auto with_params = [&](absl::string_view params) {
    return absl::StrCat("$scrypt$", params, "$", salt, "$", key);
  };

  const std::vector<std::string> garbled = {
      "",
      "$",
      "$scrypt$",
      "scrypt$ln=10,r=8,p=1$" + salt + "$" + key,     // no leading $
      "$argon2id$ln=10,r=8,p=1$" + salt + "$" + key,  // another scheme
      "$scrypt$ln=10,r=8,p=1$" + salt,                // key missing
      "$scrypt$ln=10,r=8,p=1$" + salt + "$",          // key empty
      "$scrypt$" + salt + "$" + key,                  // parameters missing
      valid + "$",                                    // an extra field
      valid + "$extra",
      with_params("ln=10,r=8"),
      with_params("ln=10,r=8,p=1,x=1"),
      with_params("r=8,ln=10,p=1"),   // fields out of order
      with_params("ln=010,r=8,p=1"),  // non-canonical decimal
      with_params("ln=+10,r=8,p=1"),
      with_params("ln=-1,r=8,p=1"),
      with_params("ln=10 ,r=8,p=1"),
      with_params("ln=,r=8,p=1"),
      with_params("ln=99999999999999999999,r=8,p=1"),
      with_params("ln=40,r=8,p=1"),  // out of bounds: 2^40 iterations
      with_params("ln=9,r=8,p=1"),
      with_params("ln=10,r=0,p=1"),
      with_params("ln=10,r=33,p=1"),
      with_params("ln=10,r=8,p=0"),
      with_params("ln=10,r=8,p=17"),
      with_params("ln=20,r=32,p=16"),                              // each in bounds, together 4 GiB
      "$scrypt$ln=10,r=8,p=1$" + salt + "=$" + key,                // padding
      "$scrypt$ln=10,r=8,p=1$" + salt + "$" + key + "==",          // padding
      "$scrypt$ln=10,r=8,p=1$" + salt.substr(0, 21) + "+$" + key,  // not the URL alphabet
      "$scrypt$ln=10,r=8,p=1$" + salt.substr(0, 21) + "/$" + key,
      "$scrypt$ln=10,r=8,p=1$" + salt + "$" + key.substr(0, 42),  // truncated key
      "$scrypt$ln=10,r=8,p=1$" + salt + "$" + key.substr(0, 40),
      "$scrypt$ln=10,r=8,p=1$" + salt.substr(0, 20) + "$" + key,  // truncated salt
      "$scrypt$ln=10,r=8,p=1$" + salt + "AAAA$" + key,            // salt too long
      "$scrypt$ln=10,r=8,p=1$" + salt + "$" + key + "AAAA",       // key too long
      valid + std::string(200, 'A'),
      std::string(1 << 20, '$'),
      std::string("$scrypt\0$ln=10,r=8,p=1$", 23) + salt + "$" + key,
  };
  for (const std::string& encoded : garbled) {
    INFO(encoded.substr(0, 120));
    const absl::StatusOr<bool> verified = VerifyPassword("tamper target", encoded);
    CHECK(verified.status().code() == absl::StatusCode::kInvalidArgument);
    // The reason names what is wrong, never the salt or key it was given.
    CHECK_FALSE(absl::StrContains(verified.status().message(), salt));
    CHECK_FALSE(absl::StrContains(verified.status().message(), key));
  }
  CHECK(Unwrap(VerifyPassword("tamper target", valid)));
}

TEST_CASE("a flipped bit in the stored key fails verification without an error") {
  const std::string valid = FastHash("bit flip");
  std::vector<std::string> parts = Parts(valid);
  // 'A' <-> 'B' changes one bit of the first key byte and keeps the text canonical.
  parts[4][0] = parts[4][0] == 'A' ? 'B' : 'A';
  CHECK_FALSE(Unwrap(VerifyPassword("bit flip", Join(parts))));
}

TEST_CASE("a dummy verification does the work and reports no error") {
  CHECK(DummyVerify("no such user's password").ok());
  CHECK(DummyVerify("").ok());
}

TEST_CASE("the password policy counts 12 to 128 characters") {
  const std::string kMessage = "password: must be 12..128 characters";
  CHECK(CheckPasswordPolicy(std::string(11, 'a')).message() == kMessage);
  CHECK(CheckPasswordPolicy(std::string(11, 'a')).code() == absl::StatusCode::kInvalidArgument);
  CHECK(CheckPasswordPolicy(std::string(12, 'a')).ok());
  CHECK(CheckPasswordPolicy(std::string(128, 'a')).ok());
  CHECK(CheckPasswordPolicy(std::string(129, 'a')).message() == kMessage);
  CHECK(CheckPasswordPolicy("").message() == kMessage);
}

TEST_CASE("the password policy counts multi-byte characters as one each") {
  const std::string kMessage = "password: must be 12..128 characters";
  CHECK(CheckPasswordPolicy(Repeat("é", 12)).ok());                    // 24 bytes
  CHECK(CheckPasswordPolicy(Repeat("€", 11)).message() == kMessage);   // 33 bytes
  CHECK(CheckPasswordPolicy(Repeat("😀", 11)).message() == kMessage);   // 44 bytes
  CHECK(CheckPasswordPolicy(Repeat("😀", 128)).ok());                   // 512 bytes
  CHECK(CheckPasswordPolicy(Repeat("é", 129)).message() == kMessage);  // 258 bytes
  CHECK(CheckPasswordPolicy(Repeat("密", 6) + Repeat("a", 6)).ok());
}

TEST_CASE("the password policy rejects invalid UTF-8") {
  const std::string kMessage = "password: not valid UTF-8";
  const std::string twelve(12, 'a');
  const std::vector<std::string> invalid = {
      twelve + "\xff",              // never a UTF-8 byte
      twelve + "\x80",              // a stray continuation byte
      twelve + "\xc3",              // truncated two-byte sequence
      twelve + "\xe2\x82",          // truncated three-byte sequence
      twelve + "\xc0\xaf",          // overlong '/'
      twelve + "\xe0\x80\xaf",      // overlong '/' in three bytes
      twelve + "\xf0\x80\x80\xaf",  // overlong '/' in four bytes
      twelve + "\xed\xa0\x80",      // UTF-16 surrogate U+D800
      twelve + "\xf4\x90\x80\x80",  // U+110000, past the last code point
      twelve + "\xc3(",             // continuation byte missing
  };
  for (const std::string& password : invalid) {
    const absl::Status status = CheckPasswordPolicy(password);
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK(status.message() == kMessage);
  }
  CHECK(CheckPasswordPolicy(twelve + "\xf4\x8f\xbf\xbf").ok());  // U+10FFFF, the last one
  CHECK(CheckPasswordPolicy(twelve + "\xef\xbf\xbd").ok());      // U+FFFD
}

}  // namespace
}  // namespace spine
