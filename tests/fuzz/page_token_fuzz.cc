// Fuzz target for PageTokenCodec::Decode, the parser that sees client-supplied page tokens.
//
// Properties checked on every input:
//  - Decode never crashes, and whatever it accepts is the one canonical spelling of a cursor with
//    non-negative fields under this key and binding (re-encoding gives back the input);
//  - an accepted token is rejected under any other binding;
//  - the first 16 bytes, read as a cursor (sign bits cleared), survive Encode → Decode under a
//    binding made of the remaining bytes, and that token fails under the fixed binding.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/strings/string_view.h"
#include "services/storage/page_token.h"

namespace {

// Also the key and binding used to make the valid tokens in corpus/page_token.
constexpr absl::string_view kKey = "spine-fuzz-page-token-key-0123456789abcdef";
constexpr absl::string_view kBinding = "user=7\ntag=x\nquery=y";

void Fail(const char* what) {
  std::fprintf(stderr, "page_token_fuzz: %s\n", what);
  std::abort();
}

int64_t NonNegative(const uint8_t* bytes) {
  uint64_t bits = 0;
  std::memcpy(&bits, bytes, sizeof bits);
  return static_cast<int64_t>(bits & ~(uint64_t{1} << 63));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const spine::storage::PageTokenCodec codec{std::string(kKey)};
  const absl::string_view input(reinterpret_cast<const char*>(data), size);

  const absl::StatusOr<spine::storage::PageCursor> decoded = codec.Decode(input, kBinding);
  if (decoded.ok()) {
    if (decoded->create_micros < 0 || decoded->id < 0) Fail("accepted a negative cursor");
    if (codec.Encode(*decoded, kBinding) != input) Fail("accepted a non-canonical token");
    if (codec.Decode(input, "user=8\ntag=x\nquery=y").ok()) Fail("accepted a foreign binding");
  } else if (decoded.status().message().substr(0, 11) != "pageToken: ") {
    Fail("error message does not start with \"pageToken: \"");
  }

  if (size >= 16) {
    const spine::storage::PageCursor cursor{NonNegative(data), NonNegative(data + 8)};
    const absl::string_view binding = input.substr(16);
    const std::string token = codec.Encode(cursor, binding);
    const absl::StatusOr<spine::storage::PageCursor> round_trip = codec.Decode(token, binding);
    if (!round_trip.ok() || !(*round_trip == cursor)) Fail("Encode -> Decode lost the cursor");
    if (binding != kBinding && codec.Decode(token, kBinding).ok()) {
      Fail("token accepted under another binding");
    }
  }
  return 0;
}
