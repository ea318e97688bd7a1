// Password storage: scrypt hashes in one self-describing string, and the password policy.
//
// A stored hash reads `$scrypt$ln=15,r=8,p=1$<salt>$<key>`: N = 2^ln, block size r, parallelism
// p, a random 16-byte salt and the 32-byte derived key, both unpadded base64url. Because the
// parameters travel with the hash, raising them later only affects new hashes; old ones keep
// verifying with the parameters they were made with.
//
// Hashing and verifying cost ~100 ms of CPU and 32 MiB of memory each at the production
// parameters, by design: run them off the I/O threads (see libs/core/worker_pool.h).
// All functions are pure apart from reading the OpenSSL random generator, and thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace spine {

// scrypt cost parameters: N = 2^log2_n iterations over 128 * r bytes each, p lanes.
struct ScryptParams {
  int log2_n = 15;
  int r = 8;
  int p = 1;

  bool operator==(const ScryptParams&) const = default;
};

// HashPassword refuses parameters weaker than this (N = 2^15, the floor).
inline constexpr int kScryptProductionMinLog2N = 15;
// Bounds on parameters read back from a stored hash, so that a tampered hash cannot make a
// verification burn unbounded CPU or memory. The low end admits HashPasswordForTesting's hashes.
inline constexpr int kScryptMinLog2N = 10;
inline constexpr int kScryptMaxLog2N = 20;
inline constexpr int kScryptMaxR = 32;
inline constexpr int kScryptMaxP = 16;
// OpenSSL's cap on the memory one derivation may take; N = 2^15, r = 8 needs 32 MiB. Parameters
// whose derivation would exceed it are rejected up front, when hashing and when verifying.
inline constexpr uint64_t kScryptMaxMemBytes = uint64_t{64} * 1024 * 1024;

inline constexpr size_t kPasswordSaltBytes = 16;
inline constexpr size_t kPasswordKeyBytes = 32;

// Password length bounds in Unicode code points (API.md: "password 12..128 chars").
inline constexpr size_t kPasswordMinChars = 12;
inline constexpr size_t kPasswordMaxChars = 128;

// Hashes `password` with a fresh random salt. INVALID_ARGUMENT when `params` are weaker than
// production (log2_n < kScryptProductionMinLog2N) or outside the bounds above; INTERNAL when
// OpenSSL fails (no randomness, out of memory). Does not apply the password policy.
absl::StatusOr<std::string> HashPassword(std::string_view password,
                                         const ScryptParams& params = ScryptParams{});

// Tests only: HashPassword that also accepts log2_n down to kScryptMinLog2N, so a test hashes in
// milliseconds. Production code never calls it; the separate name makes that easy to check.
absl::StatusOr<std::string> HashPasswordForTesting(std::string_view password,
                                                   const ScryptParams& params);

// Whether `password` matches `encoded`, recomputed with the parameters stored in `encoded` and
// compared in constant time. INVALID_ARGUMENT when `encoded` is not exactly the format above
// (wrong prefix, non-canonical numbers or base64url, wrong salt or key length, parameters out of
// bounds); the message never repeats the salt or key. INTERNAL when OpenSSL fails.
absl::StatusOr<bool> VerifyPassword(std::string_view password, std::string_view encoded);

// Does the work of one VerifyPassword against a hash at the default parameters and throws the
// result away, so that a login for an unknown user takes as long as one with a wrong password.
// OK unless OpenSSL fails.
absl::Status DummyVerify(std::string_view password);

// The password policy: valid UTF-8 of kPasswordMinChars..kPasswordMaxChars code points.
// INVALID_ARGUMENT "password: must be 12..128 characters" or "password: not valid UTF-8"; the
// message never carries the password or its length (either would end up in logs).
absl::Status CheckPasswordPolicy(std::string_view password);

}  // namespace spine
