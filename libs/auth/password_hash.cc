#include "libs/auth/password_hash.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "libs/auth/base64url.h"
#include "libs/auth/openssl_error.h"
#include "libs/core/status.h"

namespace spine {
namespace {

using DerivedKey = std::array<unsigned char, kPasswordKeyBytes>;

constexpr std::string_view kScheme = "scrypt";
// The longest encoding the bounds allow is under 100 bytes; anything longer is rejected before
// it is split, so a garbage "hash" costs nothing.
constexpr size_t kMaxEncodedBytes = 128;
constexpr uint64_t kMiB = uint64_t{1024} * 1024;

std::string ParamsText(const ScryptParams& params) {
  return absl::StrCat("ln=", params.log2_n, ",r=", params.r, ",p=", params.p);
}

// Checks `params` against the bounds in the header and against what OpenSSL will accept, so
// that an out-of-range value gets a message naming it rather than an opaque OpenSSL error.
// `context` prefixes the message ("scrypt params" when hashing, "password hash" when verifying).
absl::Status ValidateParams(const ScryptParams& params, int min_log2_n, std::string_view context) {
  const absl::string_view ctx(context.data(), context.size());
  if (params.log2_n < min_log2_n || params.log2_n > kScryptMaxLog2N) {
    return absl::InvalidArgumentError(
        absl::StrCat(ctx, ": ln=", params.log2_n, " outside ", min_log2_n, "..", kScryptMaxLog2N));
  }
  if (params.r < 1 || params.r > kScryptMaxR) {
    return absl::InvalidArgumentError(
        absl::StrCat(ctx, ": r=", params.r, " outside 1..", kScryptMaxR));
  }
  if (params.p < 1 || params.p > kScryptMaxP) {
    return absl::InvalidArgumentError(
        absl::StrCat(ctx, ": p=", params.p, " outside 1..", kScryptMaxP));
  }
  // scrypt (RFC 7914) requires N < 2^(128 * r / 8); OpenSSL enforces it, and it only bites at
  // r = 1 within our bounds.
  if (params.log2_n >= 16 * params.r) {
    return absl::InvalidArgumentError(absl::StrCat(ctx, ": ln=", params.log2_n, " needs r > ",
                                                   params.log2_n / 16, ", got r=", params.r));
  }
  // OpenSSL's own accounting: the V array (128 * r * (N + 2) bytes) plus B (128 * r * p bytes).
  const uint64_t n = uint64_t{1} << params.log2_n;
  const uint64_t r = static_cast<uint64_t>(params.r);
  const uint64_t p = static_cast<uint64_t>(params.p);
  const uint64_t bytes = 128 * r * (n + 2) + 128 * r * p;
  if (bytes > kScryptMaxMemBytes) {
    return absl::InvalidArgumentError(absl::StrCat(ctx, ": ", ParamsText(params), " needs ",
                                                   bytes / kMiB, " MiB, at most ",
                                                   kScryptMaxMemBytes / kMiB));
  }
  return absl::OkStatus();
}

// scrypt through OpenSSL. `params` must have passed ValidateParams.
absl::StatusOr<DerivedKey> Derive(std::string_view password, std::string_view salt,
                                  const ScryptParams& params) {
  DerivedKey key{};
  // OpenSSL treats a null key as "only check the parameters", and a null password is best not
  // handed to it at all; an empty string_view may carry either.
  const char* pass = password.empty() ? "" : password.data();
  if (EVP_PBE_scrypt(pass, password.size(), reinterpret_cast<const unsigned char*>(salt.data()),
                     salt.size(), uint64_t{1} << params.log2_n, static_cast<uint64_t>(params.r),
                     static_cast<uint64_t>(params.p), kScryptMaxMemBytes, key.data(),
                     key.size()) != 1) {
    return absl::InternalError(
        absl::StrCat("scrypt ", ParamsText(params), ": ", TakeOpenSslError()));
  }
  return key;
}

std::string Encode(const ScryptParams& params, std::string_view salt, const DerivedKey& key) {
  return absl::StrCat(
      "$", absl::string_view(kScheme.data(), kScheme.size()), "$", ParamsText(params), "$",
      Base64UrlEncode(salt), "$",
      Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(key.data()), key.size())));
}

// A decimal of at most three digits without a leading zero (so every value has one spelling).
std::optional<int> ParseSmallDecimal(absl::string_view text) {
  if (text.empty() || text.size() > 3 || (text.size() > 1 && text[0] == '0')) return std::nullopt;
  int value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  return value;
}

// One "name=value" field of the parameter list.
std::optional<int> ParseField(absl::string_view field, absl::string_view name) {
  if (field.size() <= name.size() + 1 || field.substr(0, name.size()) != name ||
      field[name.size()] != '=') {
    return std::nullopt;
  }
  return ParseSmallDecimal(field.substr(name.size() + 1));
}

struct ParsedHash {
  ScryptParams params;
  std::string salt;
  std::string key;
};

absl::Status Malformed(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("password hash: ", what));
}

absl::StatusOr<ParsedHash> ParseEncoded(std::string_view encoded) {
  if (encoded.size() > kMaxEncodedBytes) {
    return Malformed(absl::StrCat(encoded.size(), " bytes, at most ", kMaxEncodedBytes));
  }
  const std::vector<absl::string_view> parts =
      absl::StrSplit(absl::string_view(encoded.data(), encoded.size()), '$');
  if (parts.size() != 5 || !parts[0].empty() ||
      parts[1] != absl::string_view(kScheme.data(), kScheme.size())) {
    return Malformed("expected $scrypt$ln=<n>,r=<n>,p=<n>$<salt>$<key>");
  }
  const std::vector<absl::string_view> fields = absl::StrSplit(parts[2], ',');
  if (fields.size() != 3) return Malformed("expected parameters ln=<n>,r=<n>,p=<n>");
  const std::optional<int> log2_n = ParseField(fields[0], "ln");
  const std::optional<int> r = ParseField(fields[1], "r");
  const std::optional<int> p = ParseField(fields[2], "p");
  if (!log2_n || !r || !p) {
    return Malformed("expected parameters ln=<n>,r=<n>,p=<n> with canonical decimals");
  }
  ParsedHash parsed;
  parsed.params = ScryptParams{*log2_n, *r, *p};
  SPINE_RETURN_IF_ERROR(ValidateParams(parsed.params, kScryptMinLog2N, "password hash"));

  // The decoder's message is about the text, never quotes it; ours adds which field it was.
  absl::StatusOr<std::string> salt =
      Base64UrlDecodeStrict(std::string_view(parts[3].data(), parts[3].size()));
  if (!salt.ok()) return Malformed("salt is not canonical unpadded base64url");
  if (salt->size() != kPasswordSaltBytes) {
    return Malformed(
        absl::StrCat("salt is ", salt->size(), " bytes, expected ", kPasswordSaltBytes));
  }
  absl::StatusOr<std::string> key =
      Base64UrlDecodeStrict(std::string_view(parts[4].data(), parts[4].size()));
  if (!key.ok()) return Malformed("key is not canonical unpadded base64url");
  if (key->size() != kPasswordKeyBytes) {
    return Malformed(absl::StrCat("key is ", key->size(), " bytes, expected ", kPasswordKeyBytes));
  }
  parsed.salt = *std::move(salt);
  parsed.key = *std::move(key);
  return parsed;
}

absl::StatusOr<std::string> HashWithFloor(std::string_view password, const ScryptParams& params,
                                          int min_log2_n) {
  SPINE_RETURN_IF_ERROR(ValidateParams(params, min_log2_n, "scrypt params"));
  std::array<unsigned char, kPasswordSaltBytes> salt{};
  if (RAND_bytes(salt.data(), static_cast<int>(salt.size())) != 1) {
    return absl::InternalError(absl::StrCat("scrypt salt: RAND_bytes: ", TakeOpenSslError()));
  }
  const std::string_view salt_view(reinterpret_cast<const char*>(salt.data()), salt.size());
  SPINE_ASSIGN_OR_RETURN(DerivedKey key, Derive(password, salt_view, params));
  return Encode(params, salt_view, key);
}

// Counts the code points of strict UTF-8 (no overlong forms, no surrogates, nothing above
// U+10FFFF); nullopt when `text` is not such UTF-8.
std::optional<size_t> CountUtf8CodePoints(std::string_view text) {
  size_t count = 0;
  size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    size_t len = 0;
    uint32_t code_point = 0;
    if (lead < 0x80) {
      len = 1;
      code_point = lead;
    } else if (lead >= 0xC2 && lead <= 0xDF) {  // 0xC0 and 0xC1 only start overlong forms
      len = 2;
      code_point = lead & 0x1Fu;
    } else if ((lead & 0xF0u) == 0xE0) {
      len = 3;
      code_point = lead & 0x0Fu;
    } else if (lead >= 0xF0 && lead <= 0xF4) {  // above 0xF4 lies past U+10FFFF
      len = 4;
      code_point = lead & 0x07u;
    } else {
      return std::nullopt;
    }
    if (len > text.size() - i) return std::nullopt;
    for (size_t k = 1; k < len; ++k) {
      const auto byte = static_cast<unsigned char>(text[i + k]);
      if ((byte & 0xC0u) != 0x80) return std::nullopt;
      code_point = (code_point << 6) | (byte & 0x3Fu);
    }
    if ((len == 3 && (code_point < 0x800 || (code_point >= 0xD800 && code_point <= 0xDFFF))) ||
        (len == 4 && (code_point < 0x10000 || code_point > 0x10FFFF))) {
      return std::nullopt;
    }
    i += len;
    ++count;
  }
  return count;
}

}  // namespace

absl::StatusOr<std::string> HashPassword(std::string_view password, const ScryptParams& params) {
  return HashWithFloor(password, params, kScryptProductionMinLog2N);
}

absl::StatusOr<std::string> HashPasswordForTesting(std::string_view password,
                                                   const ScryptParams& params) {
  return HashWithFloor(password, params, kScryptMinLog2N);
}

absl::StatusOr<bool> VerifyPassword(std::string_view password, std::string_view encoded) {
  SPINE_ASSIGN_OR_RETURN(const ParsedHash parsed, ParseEncoded(encoded));
  SPINE_ASSIGN_OR_RETURN(DerivedKey key, Derive(password, parsed.salt, parsed.params));
  // Constant time, so the comparison does not tell an attacker how many leading bytes matched.
  const bool match = CRYPTO_memcmp(key.data(), parsed.key.data(), key.size()) == 0;
  OPENSSL_cleanse(key.data(), key.size());
  return match;
}

absl::Status DummyVerify(std::string_view password) {
  // The work of a verification is set by the parameters and the lengths of salt and password,
  // not by the salt's or key's bytes, so the dummy needs no real hash behind it: a fixed salt and
  // an all-zero key at the default parameters cost exactly what a stored default hash costs.
  // Nothing is computed ahead, so there is no first-call delay to give the dummy away, and no
  // shared state. (A password matching the zero key has probability 2^-256 and is ignored.)
  static constexpr std::string_view kDummySalt = "spine-dummy-salt";
  static_assert(kDummySalt.size() == kPasswordSaltBytes);
  const std::string encoded = Encode(ScryptParams{}, kDummySalt, DerivedKey{});
  return VerifyPassword(password, encoded).status();
}

absl::Status CheckPasswordPolicy(std::string_view password) {
  const std::optional<size_t> chars = CountUtf8CodePoints(password);
  if (!chars) return absl::InvalidArgumentError("password: not valid UTF-8");
  if (*chars < kPasswordMinChars || *chars > kPasswordMaxChars) {
    return absl::InvalidArgumentError(absl::StrCat("password: must be ", kPasswordMinChars, "..",
                                                   kPasswordMaxChars, " characters"));
  }
  return absl::OkStatus();
}

}  // namespace spine
