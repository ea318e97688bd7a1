// Fuzz target for JwtVerifier::Verify (libs/auth/jwt.h): every request's bearer token passes
// through it before anything else looks at the request.
//
// Random bytes almost never carry a valid Ed25519 signature, so the first byte picks what the rest
// is: 0, the raw token; 1, a payload (claims JSON) signed under a well-formed header with the
// trusted key; 2, "<header JSON>\n<payload JSON>" signed the same way. Modes 1 and 2 take the
// fuzzer past the signature into the header and claims checks. The key is made at start-up:
// signing is deterministic for a given key, so any input replays the same way within a run.
//
// Properties checked on every input:
//  - Verify never crashes;
//  - a refusal is UNAUTHENTICATED with a "jwt: " message that does not repeat the token;
//  - accepted claims hold what the verifier promises (sub non-empty, a known role, exp not
//    long past, nbf not in the future), and a second Verify (the cache) gives the same claims.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "libs/auth/base64url.h"
#include "libs/auth/ed25519_keys.h"
#include "libs/auth/jwt.h"
#include "libs/core/clock.h"

namespace {

void Fail(const char* what) {
  std::fprintf(stderr, "jwt_verify_fuzz: %s\n", what);
  std::abort();
}

struct Fixture {
  spine::FakeClock clock{absl::FromUnixSeconds(1'700'000'000)};
  std::unique_ptr<spine::Ed25519PrivateKey> key;
  std::unique_ptr<spine::JwtVerifier> verifier;
};

const Fixture& TheFixture() {
  static Fixture fixture;
  static const bool ready = [] {
    auto pems = spine::GenerateEd25519PemPair();
    if (!pems.ok()) Fail("cannot generate a key");
    auto key = spine::Ed25519PrivateKey::FromPem(pems->first);
    auto keys = spine::Ed25519PublicKey::AllFromPem(pems->second);
    if (!key.ok() || !keys.ok()) Fail("cannot load the generated key");
    fixture.key = std::make_unique<spine::Ed25519PrivateKey>(*std::move(key));
    fixture.verifier = std::make_unique<spine::JwtVerifier>(*std::move(keys), fixture.clock);
    return true;
  }();
  (void)ready;
  return fixture;
}

std::string Signed(const Fixture& fixture, std::string_view header, std::string_view payload) {
  const std::string input =
      absl::StrCat(spine::Base64UrlEncode(header), ".", spine::Base64UrlEncode(payload));
  auto signature = fixture.key->Sign(input);
  if (!signature.ok()) Fail("cannot sign");
  return absl::StrCat(input, ".", spine::Base64UrlEncode(*signature));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const Fixture& fixture = TheFixture();
  // Bytes from a fuzzer are a char buffer by contract.
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string token;
  switch (data[0] % 3) {
    case 0:
      token = std::string(rest);
      break;
    case 1:
      token = Signed(
          fixture,
          absl::StrCat(R"({"alg":"EdDSA","typ":"JWT","kid":")", fixture.key->KeyId(), R"("})"),
          rest);
      break;
    default: {
      const size_t newline = rest.find('\n');
      if (newline == std::string_view::npos) return 0;
      token = Signed(fixture, rest.substr(0, newline), rest.substr(newline + 1));
      break;
    }
  }
  const absl::StatusOr<spine::AccessClaims> claims = fixture.verifier->Verify(token);
  if (!claims.ok()) {
    if (claims.status().code() != absl::StatusCode::kUnauthenticated) Fail("not UNAUTHENTICATED");
    if (!absl::StartsWith(claims.status().message(), "jwt: ")) Fail("no jwt: reason");
    if (token.size() >= 16 && absl::StrContains(claims.status().message(), token)) {
      Fail("the refusal repeats the token");
    }
    return 0;
  }
  const absl::Time now = fixture.clock.Now();
  if (claims->sub.empty()) Fail("empty sub accepted");
  if (claims->role != "user" && claims->role != "admin" && claims->role != "service") {
    Fail("unknown role accepted");
  }
  if (claims->exp + spine::kJwtLeeway < now) Fail("expired token accepted");
  if (claims->nbf && *claims->nbf - spine::kJwtLeeway > now) Fail("not-yet-valid token accepted");
  const absl::StatusOr<spine::AccessClaims> again = fixture.verifier->Verify(token);
  if (!again.ok() || !(*again == *claims)) Fail("the cache answered differently");
  return 0;
}
