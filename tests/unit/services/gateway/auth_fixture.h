// What the AuthLogic tests share (auth_logic_test.cc, user_admin_test.cc): AuthLogic against a
// FakeUserStore and a FakeClock, with cheap scrypt parameters and a signer and verifier over one
// fresh key.
#pragma once

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libs/auth/ed25519_keys.h"
#include "libs/auth/jwt.h"
#include "libs/auth/password_hash.h"
#include "libs/core/clock.h"
#include "services/gateway/auth/auth_logic.h"
#include "services/gateway/auth/session_revocations.h"
#include "tests/unit/services/gateway/fake_user_store.h"

namespace spine::gateway::testing {

// Cheap enough that a test hashes many passwords in no time; never for real use.
inline constexpr ScryptParams kTestParams{.log2_n = 10, .r = 8, .p = 1};

template <typename T>
T Unwrap(absl::StatusOr<T> value) {
  REQUIRE(value.ok());
  return std::move(*value);
}

// One fresh Ed25519 key: the signer's private half, the verifier's public one.
struct Keys {
  Ed25519PrivateKey private_key;
  std::vector<Ed25519PublicKey> public_keys;
};

inline Keys MakeKeys() {
  auto [private_pem, public_pem] = Unwrap(GenerateEd25519PemPair());
  std::vector<Ed25519PublicKey> public_keys;
  public_keys.push_back(Unwrap(Ed25519PublicKey::FromPem(public_pem)));
  return Keys{Unwrap(Ed25519PrivateKey::FromPem(private_pem)), std::move(public_keys)};
}

// The clock, the store, the signer and verifier, and the logic over them; unknown usernames'
// dummy verifications are counted. With Revocations::kTracked the logic reports issued and
// revoked sessions to `revocations`, as the gateway wires it; otherwise `revocations` is unused.
struct AuthFixture {
  enum class Revocations { kUntracked, kTracked };

  explicit AuthFixture(Revocations tracking = Revocations::kUntracked)
      : AuthFixture(MakeKeys(), tracking) {}

  int64_t AddUser(const std::string& name, const std::string& password,
                  const std::string& role = "user") {
    return Unwrap(
               store.CreateUser(name, role, Unwrap(HashPasswordForTesting(password, kTestParams))))
        .id;
  }

  FakeClock clock;
  FakeUserStore store{clock};
  SessionRevocations revocations{clock};
  JwtSigner signer;
  JwtVerifier verifier;
  std::atomic<int> dummy_verifications{0};
  AuthLogic logic;

 private:
  AuthFixture(Keys keys, Revocations tracking)
      : signer(std::move(keys.private_key), clock),
        verifier(std::move(keys.public_keys), clock),
        logic(store, signer, clock, Options(tracking)) {}

  AuthLogicOptions Options(Revocations tracking) {
    static const std::string dummy_hash = *HashPasswordForTesting("a dummy password", kTestParams);
    return AuthLogicOptions{
        .hashing = {.hash = HashPasswordForTesting,
                    .dummy_verify =
                        [this](std::string_view password) {
                          ++dummy_verifications;
                          return VerifyPassword(password, dummy_hash).status();
                        },
                    .params = kTestParams},
        .revocations = tracking == Revocations::kTracked ? &revocations : nullptr};
  }
};

}  // namespace spine::gateway::testing
