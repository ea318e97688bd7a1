#include "services/storage/page_token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "libs/auth/base64url.h"

namespace spine::storage {
namespace {

constexpr uint8_t kVersion = 1;
constexpr size_t kPayloadBytes = 1 + 8 + 8;  // version | create_micros | id
constexpr size_t kMacBytes = 32;
constexpr size_t kTokenBytes = kPayloadBytes + kMacBytes;

absl::Status NotAToken() { return absl::InvalidArgumentError("pageToken: not a valid page token"); }

void PutBigEndian(int64_t value, std::string* out) {
  const auto bits = static_cast<uint64_t>(value);
  for (int shift = 56; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((bits >> shift) & 0xFF));
  }
}

int64_t GetBigEndian(absl::string_view bytes) {
  uint64_t bits = 0;
  for (const char c : bytes.substr(0, 8)) bits = (bits << 8) | static_cast<uint8_t>(c);
  return static_cast<int64_t>(bits);
}

// HMAC-SHA256(key, payload | binding). OpenSSL's one-shot HMAC keeps no shared state, which is
// what makes the codec thread-safe.
std::array<unsigned char, kMacBytes> Mac(const std::string& key, absl::string_view payload,
                                         absl::string_view binding) {
  std::string input;
  input.reserve(payload.size() + binding.size());
  input.append(payload.data(), payload.size());
  input.append(binding.data(), binding.size());
  std::array<unsigned char, kMacBytes> mac{};
  unsigned int mac_len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac.data(),
           &mac_len) == nullptr ||
      mac_len != kMacBytes) {
    // Only an allocation failure inside OpenSSL gets here. Carrying on would hand out tokens that
    // are not MACs (or accept any), so stop.
    std::abort();
  }
  return mac;
}

}  // namespace

PageTokenCodec::PageTokenCodec(std::string key) : key_(std::move(key)) {}

std::string PageTokenCodec::Encode(const PageCursor& cursor, absl::string_view binding) const {
  std::string bytes;
  bytes.reserve(kTokenBytes);
  bytes.push_back(static_cast<char>(kVersion));
  PutBigEndian(cursor.create_micros, &bytes);
  PutBigEndian(cursor.id, &bytes);
  const auto mac = Mac(key_, bytes, binding);
  bytes.append(reinterpret_cast<const char*>(mac.data()), mac.size());
  return Base64UrlEncode(bytes);
}

absl::StatusOr<PageCursor> PageTokenCodec::Decode(absl::string_view token,
                                                  absl::string_view binding) const {
  if (token.size() > kMaxPageTokenChars) {
    return absl::InvalidArgumentError(
        absl::StrCat("pageToken: ", token.size(), " characters, at most ", kMaxPageTokenChars));
  }
  // Strict decoding: each byte string has exactly one accepted spelling, so no two token texts
  // carry the same cursor and MAC.
  absl::StatusOr<std::string> decoded =
      Base64UrlDecodeStrict(std::string_view(token.data(), token.size()));
  if (!decoded.ok() || decoded->size() != kTokenBytes) return NotAToken();
  const std::string& bytes = *decoded;
  if (static_cast<uint8_t>(bytes[0]) != kVersion) return NotAToken();
  const absl::string_view payload = absl::string_view(bytes).substr(0, kPayloadBytes);
  const auto expected = Mac(key_, payload, binding);
  // Constant time, so response timing does not reveal how much of a forged MAC was right.
  if (CRYPTO_memcmp(expected.data(), bytes.data() + kPayloadBytes, kMacBytes) != 0) {
    return absl::InvalidArgumentError(
        "pageToken: not a valid page token for this user and these filters");
  }
  PageCursor cursor;
  cursor.create_micros = GetBigEndian(payload.substr(1, 8));
  cursor.id = GetBigEndian(payload.substr(9, 8));
  // Encode never gets negative fields from the store; a MAC-valid negative one means a caller bug.
  if (cursor.create_micros < 0 || cursor.id < 0) return NotAToken();
  return cursor;
}

}  // namespace spine::storage
