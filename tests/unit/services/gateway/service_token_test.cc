// Service tokens minted by the gateway: what they claim and what is refused.
#include "services/gateway/service_token.h"

#include <catch2/catch.hpp>

#include "libs/auth/jwt.h"

namespace spine::gateway {
namespace {

struct KeyPair {
  std::string private_pem;
  std::string public_pem;
};

KeyPair NewKeyPair() {
  auto pems = GenerateEd25519PemPair();
  REQUIRE(pems.ok());
  return {pems->first, pems->second};
}

Ed25519PrivateKey Key(const KeyPair& pair) {
  auto key = Ed25519PrivateKey::FromPem(pair.private_pem);
  REQUIRE(key.ok());
  return std::move(*key);
}

}  // namespace

TEST_CASE("a service token names the service, has role service and lives its ttl") {
  FakeClock clock;
  const KeyPair pair = NewKeyPair();
  auto token = MintServiceToken(Key(pair), clock, "tasks", absl::Hours(2));
  REQUIRE(token.ok());
  std::vector<Ed25519PublicKey> keys;
  auto public_key = Ed25519PublicKey::FromPem(pair.public_pem);
  REQUIRE(public_key.ok());
  keys.push_back(std::move(*public_key));
  JwtVerifier verifier(std::move(keys), clock, 0);
  auto claims = verifier.Verify(*token);
  REQUIRE(claims.ok());
  CHECK(claims->sub == "tasks");
  CHECK(claims->name == "spine-tasks");
  CHECK(claims->role == "service");
  CHECK(claims->exp - claims->iat == absl::Hours(2));
  clock.Advance(absl::Hours(2) + absl::Minutes(1));
  CHECK(verifier.Verify(*token).status().code() == absl::StatusCode::kUnauthenticated);
}

TEST_CASE("service tokens are minted only for Spine's services and sane lifetimes") {
  FakeClock clock;
  const KeyPair pair = NewKeyPair();
  for (const char* service : {"", "alice", "admin", "tasks ", "TASKS"}) {
    INFO(service);
    CHECK(MintServiceToken(Key(pair), clock, service).status().code() ==
          absl::StatusCode::kInvalidArgument);
  }
  CHECK(MintServiceToken(Key(pair), clock, "llm", absl::Seconds(59)).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(MintServiceToken(Key(pair), clock, "llm", absl::Hours(24 * 366)).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(MintServiceToken(Key(pair), clock, "llm").ok());
}

}  // namespace spine::gateway
