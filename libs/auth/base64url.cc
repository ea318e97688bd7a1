#include "libs/auth/base64url.h"

#include <array>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace spine {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// Maps a byte to its 6-bit value, or -1 when it is not in the URL alphabet.
constexpr std::array<int8_t, 256> MakeDecodeTable() {
  std::array<int8_t, 256> table{};
  for (auto& v : table) v = -1;
  for (size_t i = 0; i < kAlphabet.size(); ++i) {
    table[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int8_t>(i);
  }
  return table;
}

constexpr std::array<int8_t, 256> kDecodeTable = MakeDecodeTable();

}  // namespace

std::string Base64UrlEncode(std::string_view data) {
  std::string out;
  out.reserve((data.size() * 4 + 2) / 3);
  size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    const uint32_t n = (static_cast<uint32_t>(static_cast<unsigned char>(data[i])) << 16) |
                       (static_cast<uint32_t>(static_cast<unsigned char>(data[i + 1])) << 8) |
                       static_cast<uint32_t>(static_cast<unsigned char>(data[i + 2]));
    out.push_back(kAlphabet[(n >> 18) & 0x3f]);
    out.push_back(kAlphabet[(n >> 12) & 0x3f]);
    out.push_back(kAlphabet[(n >> 6) & 0x3f]);
    out.push_back(kAlphabet[n & 0x3f]);
  }
  const size_t rest = data.size() - i;
  if (rest == 1) {
    const uint32_t n = static_cast<uint32_t>(static_cast<unsigned char>(data[i])) << 16;
    out.push_back(kAlphabet[(n >> 18) & 0x3f]);
    out.push_back(kAlphabet[(n >> 12) & 0x3f]);
  } else if (rest == 2) {
    const uint32_t n = (static_cast<uint32_t>(static_cast<unsigned char>(data[i])) << 16) |
                       (static_cast<uint32_t>(static_cast<unsigned char>(data[i + 1])) << 8);
    out.push_back(kAlphabet[(n >> 18) & 0x3f]);
    out.push_back(kAlphabet[(n >> 12) & 0x3f]);
    out.push_back(kAlphabet[(n >> 6) & 0x3f]);
  }
  return out;
}

absl::StatusOr<std::string> Base64UrlDecodeStrict(std::string_view encoded) {
  if (encoded.size() % 4 == 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("base64url: length ", encoded.size(), " is 1 mod 4, not a valid encoding"));
  }
  std::string out;
  out.reserve(encoded.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < encoded.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(encoded[i]);
    const int8_t v = kDecodeTable[c];
    if (v < 0) {
      if (c == '=') {
        return absl::InvalidArgumentError(
            absl::StrCat("base64url: padding '=' at offset ", i, " is not allowed"));
      }
      return absl::InvalidArgumentError(absl::StrCat("base64url: byte 0x",
                                                     absl::Hex(c, absl::kZeroPad2), " at offset ",
                                                     i, " is outside the URL alphabet"));
    }
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
      acc &= (1u << bits) - 1;
    }
  }
  // Whatever is left (2 or 4 bits) encodes no data; a canonical encoder leaves it zero.
  if (acc != 0) {
    return absl::InvalidArgumentError(
        "base64url: unused trailing bits are not zero (non-canonical)");
  }
  return out;
}

}  // namespace spine
