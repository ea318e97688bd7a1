#include "services/storage/page_token.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdint>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace spine::storage {
namespace {

constexpr absl::string_view kKey = "0123456789abcdef0123456789abcdef";
constexpr absl::string_view kBinding = "user=7\ntag=x\nquery=y";
constexpr absl::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

const PageCursor kCursor{1'700'000'000'123'456, 42};

PageCursor MustDecode(const PageTokenCodec& codec, absl::string_view token,
                      absl::string_view binding) {
  absl::StatusOr<PageCursor> cursor = codec.Decode(token, binding);
  INFO(cursor.status().ToString());
  REQUIRE(cursor.ok());
  return *cursor;
}

void RequireRejected(const PageTokenCodec& codec, absl::string_view token,
                     absl::string_view binding = kBinding) {
  absl::StatusOr<PageCursor> cursor = codec.Decode(token, binding);
  INFO("token: " << token);
  REQUIRE_FALSE(cursor.ok());
  CHECK(cursor.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StartsWith(cursor.status().message(), "pageToken: "));
  if (token.size() >= 8) CHECK_FALSE(absl::StrContains(cursor.status().message(), token));
}

// The decoded bytes of a token, through Abseil's (independent, lenient) decoder.
std::string RawBytes(absl::string_view token) {
  std::string bytes;
  REQUIRE(absl::WebSafeBase64Unescape(token, &bytes));
  return bytes;
}

// A token built by hand, per the format in page_token.h, with a correct MAC over whatever the
// payload says: what an attacker holding the key, or a future version, would produce.
std::string CraftToken(const std::string& payload, absl::string_view binding,
                       absl::string_view key = kKey) {
  const std::string input = absl::StrCat(payload, binding);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  REQUIRE(HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
               reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac,
               &mac_len) != nullptr);
  return absl::WebSafeBase64Escape(
      absl::StrCat(payload, absl::string_view(reinterpret_cast<const char*>(mac), mac_len)));
}

std::string Payload(uint8_t version, uint64_t create_micros, uint64_t id) {
  std::string payload(1, static_cast<char>(version));
  for (const uint64_t field : {create_micros, id}) {
    for (int shift = 56; shift >= 0; shift -= 8) {
      payload.push_back(static_cast<char>((field >> shift) & 0xFF));
    }
  }
  return payload;
}

TEST_CASE("page token decodes to the cursor it was made from") {
  const PageTokenCodec codec{std::string(kKey)};
  const std::vector<PageCursor> cursors = {
      kCursor,
      {0, 0},
      {0, 1},
      {std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::max()},
      {1, std::numeric_limits<int64_t>::max()},
  };
  for (const PageCursor& cursor : cursors) {
    const std::string token = codec.Encode(cursor, kBinding);
    CHECK(MustDecode(codec, token, kBinding) == cursor);
  }
}

TEST_CASE("page token is 66 unpadded base64url characters and deterministic") {
  const PageTokenCodec codec{std::string(kKey)};
  const std::string token = codec.Encode(kCursor, kBinding);
  CHECK(token.size() == 66);
  CHECK(token.find_first_not_of(kAlphabet.data(), 0, kAlphabet.size()) == std::string::npos);
  CHECK(codec.Encode(kCursor, kBinding) == token);
  CHECK(codec.Encode({kCursor.create_micros, kCursor.id + 1}, kBinding) != token);
}

TEST_CASE("page token matches the documented layout, so tokens survive an upgrade") {
  // Computed independently (Python hmac + base64) from the layout in page_token.h.
  constexpr absl::string_view kExpected =
      "AQAGCiQYICJAAAAAAAAAACp61QlYoh58ZhHL838c3ielv2uARKFDk4i9kQXv5ure-A";
  const PageTokenCodec codec{std::string(kKey)};
  CHECK(codec.Encode(kCursor, kBinding) == kExpected);
  CHECK(MustDecode(codec, kExpected, kBinding) == kCursor);
}

TEST_CASE("page token with any character changed is rejected") {
  const PageTokenCodec codec{std::string(kKey)};
  const std::string token = codec.Encode(kCursor, kBinding);
  for (size_t i = 0; i < token.size(); ++i) {
    for (const char replacement : {'A', 'B', 'g', '_', '-', '9'}) {
      if (token[i] == replacement) continue;
      std::string tampered = token;
      tampered[i] = replacement;
      RequireRejected(codec, tampered);
    }
  }
}

TEST_CASE("page token with any bit of its bytes flipped is rejected") {
  const PageTokenCodec codec{std::string(kKey)};
  const std::string bytes = RawBytes(codec.Encode(kCursor, kBinding));
  REQUIRE(bytes.size() == 49);
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string tampered = bytes;
      tampered[i] = static_cast<char>(tampered[i] ^ (1 << bit));
      RequireRejected(codec, absl::WebSafeBase64Escape(tampered));
    }
  }
}

TEST_CASE("page token issued for another user or other filters is rejected") {
  const PageTokenCodec codec{std::string(kKey)};
  const std::string token = codec.Encode(kCursor, kBinding);
  for (const absl::string_view other :
       {"user=8\ntag=x\nquery=y", "user=7\ntag=\nquery=y", "user=7\ntag=x\nquery=", "user=7",
        "user=7\ntag=x\nquery=y ", "user=7\ntag=x\nquery=yy", "User=7\ntag=x\nquery=y", ""}) {
    RequireRejected(codec, token, other);
  }
  CHECK(MustDecode(codec, token, kBinding) == kCursor);
}

TEST_CASE("page token made with another key is rejected") {
  const PageTokenCodec codec{std::string(kKey)};
  const PageTokenCodec other{"0123456789abcdef0123456789abcdeF"};
  RequireRejected(codec, other.Encode(kCursor, kBinding));
  RequireRejected(other, codec.Encode(kCursor, kBinding));
  RequireRejected(codec, CraftToken(Payload(1, 5, 5), kBinding, "another key"));
}

TEST_CASE("page token with padding or characters outside base64url is rejected") {
  const PageTokenCodec codec{std::string(kKey)};
  const std::string token = codec.Encode(kCursor, kBinding);
  RequireRejected(codec, token + "==");
  RequireRejected(codec, token + "=");
  // Standard base64's alphabet, whitespace, and a NUL, in the middle of an otherwise valid token.
  for (const char bad : {'+', '/', '=', ' ', '\n', '.', '\0', '\xC3'}) {
    std::string tampered = token;
    tampered[10] = bad;
    RequireRejected(codec, tampered);
  }
}

TEST_CASE("page token spelled with stray unused bits is rejected") {
  // 49 bytes end in a character that carries 2 data bits and 4 unused ones, which must be zero.
  const PageTokenCodec codec{std::string(kKey)};
  const std::string token = codec.Encode(kCursor, kBinding);
  const size_t last = kAlphabet.find(token.back());
  REQUIRE(last % 16 == 0);
  for (size_t unused = 1; unused < 16; ++unused) {
    std::string respelled = token;
    respelled.back() = kAlphabet[last + unused];
    RequireRejected(codec, respelled);
  }
}

TEST_CASE("page token truncated or extended is rejected") {
  const PageTokenCodec codec{std::string(kKey)};
  const std::string token = codec.Encode(kCursor, kBinding);
  for (size_t len = 0; len < token.size(); ++len) RequireRejected(codec, token.substr(0, len));
  for (const absl::string_view tail : {"A", "AA", "AAA", "AAAA"}) {
    RequireRejected(codec, absl::StrCat(token, tail));
  }
  RequireRejected(codec, absl::StrCat(token, token));
}

TEST_CASE("page token over 256 characters is rejected by its length alone") {
  const PageTokenCodec codec{std::string(kKey)};
  const std::string long_token(257, 'A');
  const absl::StatusOr<PageCursor> cursor = codec.Decode(long_token, kBinding);
  REQUIRE_FALSE(cursor.ok());
  CHECK(cursor.status().message() == "pageToken: 257 characters, at most 256");
  RequireRejected(codec, std::string(256, 'A'));
  RequireRejected(codec, std::string(100'000, 'A'));
}

TEST_CASE("page token with another version byte is rejected even with a correct MAC") {
  const PageTokenCodec codec{std::string(kKey)};
  // The crafted version-1 token is accepted, so the crafting matches the codec ...
  CHECK(MustDecode(codec, CraftToken(Payload(1, 5, 6), kBinding), kBinding) == PageCursor{5, 6});
  // ... and only the version byte differs below.
  for (const uint8_t version : {0, 2, 0x81, 0xFF}) {
    RequireRejected(codec, CraftToken(Payload(version, 5, 6), kBinding));
  }
}

TEST_CASE("page token with a negative field is rejected even with a correct MAC") {
  const PageTokenCodec codec{std::string(kKey)};
  RequireRejected(codec, codec.Encode({-1, 5}, kBinding));
  RequireRejected(codec, codec.Encode({5, -1}, kBinding));
  RequireRejected(codec, codec.Encode({std::numeric_limits<int64_t>::min(), 0}, kBinding));
  RequireRejected(codec, CraftToken(Payload(1, uint64_t{1} << 63, 0), kBinding));
}

TEST_CASE("page token errors are INVALID_ARGUMENT and do not repeat the token") {
  const PageTokenCodec codec{std::string(kKey)};
  const std::string token = codec.Encode(kCursor, kBinding);
  const absl::StatusOr<PageCursor> foreign = codec.Decode(token, "user=8");
  REQUIRE_FALSE(foreign.ok());
  CHECK(foreign.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(foreign.status().message() ==
        "pageToken: not a valid page token for this user and these filters");
  const absl::StatusOr<PageCursor> garbage = codec.Decode("not-a-token", kBinding);
  REQUIRE_FALSE(garbage.ok());
  CHECK(garbage.status().message() == "pageToken: not a valid page token");
  RequireRejected(codec, "");
}

TEST_CASE("page token codec can be shared between threads") {
  const PageTokenCodec codec{std::string(kKey)};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&codec, &failures, t] {
      for (int i = 0; i < 200; ++i) {
        const PageCursor cursor{t * 1000 + i, i};
        const std::string binding = absl::StrCat("user=", t);
        const absl::StatusOr<PageCursor> decoded =
            codec.Decode(codec.Encode(cursor, binding), binding);
        if (!decoded.ok() || !(*decoded == cursor)) ++failures;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  CHECK(failures == 0);
}

}  // namespace
}  // namespace spine::storage
