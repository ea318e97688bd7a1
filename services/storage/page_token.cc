#include "services/storage/page_token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <cstdlib>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace spine::storage {
namespace {

constexpr uint8_t kVersion = 1;
constexpr size_t kPayloadBytes = 1 + 8 + 8;  // version | create_micros | id
constexpr size_t kMacBytes = 32;
constexpr size_t kTokenBytes = kPayloadBytes + kMacBytes;

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr std::array<int8_t, 256> MakeDecodeTable() {
  std::array<int8_t, 256> table{};
  for (auto& v : table) v = -1;
  for (size_t i = 0; i < kAlphabet.size(); ++i) {
    table[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int8_t>(i);
  }
  return table;
}
constexpr std::array<int8_t, 256> kDecodeTable = MakeDecodeTable();

absl::Status NotAToken() { return absl::InvalidArgumentError("pageToken: not a valid page token"); }

// Unpadded base64url (RFC 4648 §5).
std::string Base64UrlEncode(std::string_view data) {
  std::string out;
  out.reserve((data.size() * 4 + 2) / 3);
  uint32_t acc = 0;
  int bits = 0;
  for (const char c : data) {
    acc = (acc << 8) | static_cast<uint8_t>(c);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> bits) & 0x3F]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 0x3F]);
  return out;
}

// Strict unpadded base64url: rejects `=`, characters outside the URL alphabet, a length of 1 mod 4
// and non-zero unused bits, so each byte string has exactly one accepted spelling and no two token
// texts carry the same cursor and MAC.
bool Base64UrlDecodeStrict(absl::string_view encoded, std::string* out) {
  if (encoded.size() % 4 == 1) return false;
  out->clear();
  out->reserve(encoded.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (const char c : encoded) {
    const int8_t v = kDecodeTable[static_cast<uint8_t>(c)];
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return (acc & ((1u << bits) - 1)) == 0;
}

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
  std::string bytes;
  if (!Base64UrlDecodeStrict(token, &bytes) || bytes.size() != kTokenBytes) return NotAToken();
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
