#include "libs/auth/jwt.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "libs/auth/base64url.h"
#include "libs/auth/ed25519_keys.h"
#include "libs/core/clock.h"
#include "nlohmann/json.hpp"

namespace spine {
namespace {

using Json = nlohmann::json;

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

template <typename T>
T Unwrap(absl::StatusOr<T> value) {
  INFO(value.status().ToString());
  REQUIRE(value.ok());
  return *std::move(value);
}

struct TestKey {
  Ed25519PrivateKey private_key;
  std::string private_pem;
  std::string public_pem;
};

TestKey MakeTestKey() {
  auto [private_pem, public_pem] = Unwrap(GenerateEd25519PemPair());
  Ed25519PrivateKey private_key = Unwrap(Ed25519PrivateKey::FromPem(private_pem));
  return TestKey{std::move(private_key), std::move(private_pem), std::move(public_pem)};
}

std::vector<Ed25519PublicKey> PublicKeys(const TestKey& key) {
  std::vector<Ed25519PublicKey> keys;
  keys.push_back(Unwrap(Ed25519PublicKey::FromPem(key.public_pem)));
  return keys;
}

// header.payload.signature, with the signature made by `key` over exactly these two segments, so
// that whatever else is wrong in a crafted token, the signature is not.
std::string SignSegments(const Ed25519PrivateKey& key, absl::string_view header_segment,
                         absl::string_view payload_segment) {
  const std::string input = absl::StrCat(header_segment, ".", payload_segment);
  return absl::StrCat(input, ".", Base64UrlEncode(Unwrap(key.Sign(input))));
}

std::string CraftRaw(const Ed25519PrivateKey& key, std::string_view header_json,
                     std::string_view payload_json) {
  return SignSegments(key, Base64UrlEncode(header_json), Base64UrlEncode(payload_json));
}

// Prepends JSON whitespace until the text's length is `remainder` mod 3, which decides how many
// unused bits (and how much padding) its base64url encoding has.
std::string WithLengthMod3(const std::string& json, size_t remainder) {
  // Built by appending (not insert(0, ...)): g++ 12 -O2 reports a false -Wrestrict on insert.
  const size_t spaces = (remainder + 3 - json.size() % 3) % 3;
  std::string padded(spaces, ' ');
  padded += json;
  return padded;
}

// Re-spells the last character of an encoded segment so it carries the same bytes plus one stray
// unused bit: what a lax decoder would accept as the same token.
std::string WithStrayBit(std::string segment) {
  REQUIRE(segment.size() % 4 >= 2);
  const size_t value = kAlphabet.find(segment.back());
  REQUIRE((value & 1) == 0);
  segment.back() = kAlphabet[value | 1];
  return segment;
}

std::vector<std::string> Segments(absl::string_view token) { return absl::StrSplit(token, '.'); }

// Checks that `result` is UNAUTHENTICATED for the expected reason and does not repeat the token.
void RequireRejected(const absl::StatusOr<AccessClaims>& result, absl::string_view token,
                     absl::string_view reason) {
  REQUIRE_FALSE(result.ok());
  const std::string message(result.status().message());
  INFO("message: " << message);
  CHECK(result.status().code() == absl::StatusCode::kUnauthenticated);
  CHECK(absl::StartsWith(message, "jwt: "));
  CHECK(absl::StrContains(message, reason));
  for (const std::string& segment : Segments(token)) {
    if (segment.size() >= 8) CHECK_FALSE(absl::StrContains(message, segment));
  }
}

// One signing key, a fake clock and a verifier that trusts the key.
struct VerifierFixture {
  FakeClock clock;
  TestKey key = MakeTestKey();
  std::string kid = key.private_key.KeyId();
  JwtVerifier verifier{PublicKeys(key), clock};

  int64_t NowSeconds() const { return absl::ToUnixSeconds(clock.Now()); }
  Json Header() const { return {{"alg", "EdDSA"}, {"typ", "JWT"}, {"kid", kid}}; }
  Json Payload() const {
    return {{"iss", "spine"},
            {"aud", "spine"},
            {"sub", "u-42"},
            {"name", "Ada"},
            {"role", "user"},
            {"iat", NowSeconds()},
            {"exp", NowSeconds() + 900},
            {"jti", "jti-0001"}};
  }
  std::string Craft(const Json& header, const Json& payload) const {
    return CraftRaw(key.private_key, header.dump(), payload.dump());
  }
  std::string CraftPayload(const Json& payload) const { return Craft(Header(), payload); }
  std::string CraftHeader(const Json& header) const { return Craft(header, Payload()); }
};

// ---- Signing and round trips ----

TEST_CASE_METHOD(VerifierFixture, "signed token verifies back to the same claims") {
  const JwtSigner signer(std::move(key.private_key), clock);
  const std::string token = Unwrap(signer.Sign("u-42", "Ada Lovelace", "admin"));
  const AccessClaims claims = Unwrap(verifier.Verify(token));
  CHECK(claims.sub == "u-42");
  CHECK(claims.name == "Ada Lovelace");
  CHECK(claims.role == "admin");
  CHECK(claims.iat == clock.Now());
  CHECK(claims.exp == clock.Now() + absl::Minutes(15));
  CHECK_FALSE(claims.nbf.has_value());
  CHECK_FALSE(claims.jti.empty());
}

TEST_CASE_METHOD(VerifierFixture, "SignClaims round trips every claim including nbf") {
  const JwtSigner signer(std::move(key.private_key), clock);
  AccessClaims claims;
  claims.sub = "u-7";
  claims.name = "Grace \xE2\x9C\x93";  // non-ASCII UTF-8 survives
  claims.role = "user";
  claims.iat = clock.Now() - absl::Seconds(5);
  claims.exp = clock.Now() + absl::Minutes(2);
  claims.nbf = clock.Now() - absl::Seconds(1);
  claims.jti = "fixed-jti";
  CHECK(Unwrap(verifier.Verify(Unwrap(signer.SignClaims(claims)))) == claims);
}

TEST_CASE_METHOD(VerifierFixture, "signer writes EdDSA, JWT and the derived kid in the header") {
  const std::string expected_kid = Unwrap(Ed25519PublicKey::FromPem(key.public_pem)).KeyId();
  const JwtSigner signer(std::move(key.private_key), clock);
  CHECK(signer.key_id() == expected_kid);
  const std::vector<std::string> segments = Segments(Unwrap(signer.Sign("u-1", "", "user")));
  REQUIRE(segments.size() == 3);
  const Json header = Json::parse(Unwrap(Base64UrlDecodeStrict(segments[0])));
  CHECK(header == Json{{"alg", "EdDSA"}, {"typ", "JWT"}, {"kid", expected_kid}});
  const Json payload = Json::parse(Unwrap(Base64UrlDecodeStrict(segments[1])));
  CHECK(payload.at("iss") == "spine");
  CHECK(payload.at("aud") == "spine");
  CHECK(payload.at("iat").is_number_integer());
  CHECK(payload.at("exp").is_number_integer());
}

TEST_CASE_METHOD(VerifierFixture, "signer mints a fresh 128-bit jti for every token") {
  const JwtSigner signer(std::move(key.private_key), clock);
  const AccessClaims a = Unwrap(verifier.Verify(Unwrap(signer.Sign("u-1", "A", "user"))));
  const AccessClaims b = Unwrap(verifier.Verify(Unwrap(signer.Sign("u-1", "A", "user"))));
  CHECK(a.jti != b.jti);
  CHECK(Unwrap(Base64UrlDecodeStrict(a.jti)).size() == 16);
}

TEST_CASE_METHOD(VerifierFixture, "signer uses its ttl and whole seconds") {
  clock.Advance(absl::Milliseconds(700));
  const JwtSigner signer(std::move(key.private_key), clock, absl::Minutes(5));
  CHECK(signer.ttl() == absl::Minutes(5));
  const AccessClaims claims = Unwrap(verifier.Verify(Unwrap(signer.Sign("u-1", "A", "user"))));
  CHECK(claims.iat == absl::FromUnixSeconds(NowSeconds()));
  CHECK(claims.exp - claims.iat == absl::Minutes(5));
}

TEST_CASE_METHOD(VerifierFixture, "signer refuses an unknown role, an empty sub and bad UTF-8") {
  const JwtSigner signer(std::move(key.private_key), clock);
  CHECK(signer.Sign("u-1", "A", "root").status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(signer.Sign("", "A", "user").status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(signer.Sign("u-1", "\xff", "user").status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(signer.Sign("u-1", std::string(9000, 'n'), "user").status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE_METHOD(VerifierFixture, "a hand-crafted token with the default claims verifies") {
  // The rejection tests below change one thing in exactly this token.
  const AccessClaims claims = Unwrap(verifier.Verify(Craft(Header(), Payload())));
  CHECK(claims.sub == "u-42");
  CHECK(claims.name == "Ada");
  CHECK(claims.role == "user");
  CHECK(claims.jti == "jti-0001");
}

TEST_CASE_METHOD(VerifierFixture, "verifier accepts tokens from any of its keys") {
  TestKey other = MakeTestKey();
  TestKey stranger = MakeTestKey();
  std::vector<Ed25519PublicKey> keys = PublicKeys(key);
  keys.push_back(Unwrap(Ed25519PublicKey::FromPem(other.public_pem)));
  const JwtVerifier rotating(std::move(keys), clock);
  const JwtSigner old_signer(std::move(key.private_key), clock);
  const JwtSigner new_signer(std::move(other.private_key), clock);
  const JwtSigner stranger_signer(std::move(stranger.private_key), clock);
  CHECK(rotating.Verify(Unwrap(old_signer.Sign("u-1", "A", "user"))).ok());
  CHECK(rotating.Verify(Unwrap(new_signer.Sign("u-2", "B", "admin"))).ok());
  const std::string token = Unwrap(stranger_signer.Sign("u-3", "C", "user"));
  RequireRejected(rotating.Verify(token), token, "unknown kid");
}

// ---- Algorithm ----

TEST_CASE_METHOD(VerifierFixture, "verifier rejects alg none") {
  Json header = Header();
  header["alg"] = "none";
  // The classic form: no signature at all.
  const std::vector<std::string> parts = Segments(CraftHeader(header));
  const std::string unsigned_token = absl::StrCat(parts[0], ".", parts[1], ".");
  RequireRejected(verifier.Verify(unsigned_token), unsigned_token, "signature segment is empty");
  // And with a (valid Ed25519) signature present, so only the alg is wrong.
  const std::string token = CraftHeader(header);
  RequireRejected(verifier.Verify(token), token, "alg 'none' is not allowed");
}

TEST_CASE_METHOD(VerifierFixture, "verifier rejects alg HS256") {
  Json header = Header();
  header["alg"] = "HS256";
  const std::string token = CraftHeader(header);
  RequireRejected(verifier.Verify(token), token, "alg 'HS256' is not allowed");
}

TEST_CASE_METHOD(VerifierFixture, "verifier rejects alg RS256") {
  Json header = Header();
  header["alg"] = "RS256";
  const std::string token = CraftHeader(header);
  RequireRejected(verifier.Verify(token), token, "alg 'RS256' is not allowed");
}

TEST_CASE_METHOD(VerifierFixture, "verifier rejects every alg other than EdDSA") {
  const std::vector<std::pair<Json, std::string>> cases = {
      {"ES256", "alg 'ES256' is not allowed"},
      {"eddsa", "alg 'eddsa' is not allowed"},
      {"Ed25519", "alg 'Ed25519' is not allowed"},
      {"EdDSA ", "is not allowed"},
      {"", "is not allowed"},
      {1, "alg is not a string"},
      {nullptr, "alg is not a string"},
      {Json::array({"EdDSA"}), "alg is not a string"},
  };
  for (const auto& [alg, reason] : cases) {
    Json header = Header();
    header["alg"] = alg;
    const std::string token = CraftHeader(header);
    INFO("alg " << alg.dump());
    RequireRejected(verifier.Verify(token), token, reason);
  }
  Json header = Header();
  header.erase("alg");
  const std::string token = CraftHeader(header);
  RequireRejected(verifier.Verify(token), token, "missing alg");
}

TEST_CASE_METHOD(VerifierFixture, "verifier rejects an HS256 token keyed with the public key PEM") {
  Json header = Header();
  header["alg"] = "HS256";
  const std::string input =
      absl::StrCat(Base64UrlEncode(header.dump()), ".", Base64UrlEncode(Payload().dump()));
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  REQUIRE(HMAC(EVP_sha256(), key.public_pem.data(), static_cast<int>(key.public_pem.size()),
               reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac,
               &mac_len) != nullptr);
  const std::string signature =
      Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(mac), mac_len));
  const std::string token = absl::StrCat(input, ".", signature);
  RequireRejected(verifier.Verify(token), token, "alg 'HS256' is not allowed");

  // Even claiming EdDSA, an HMAC is not an Ed25519 signature.
  const std::string eddsa_input =
      absl::StrCat(Base64UrlEncode(Header().dump()), ".", Base64UrlEncode(Payload().dump()));
  const std::string disguised = absl::StrCat(eddsa_input, ".", signature);
  RequireRejected(verifier.Verify(disguised), disguised, "signature is 32 bytes");
}

TEST_CASE_METHOD(VerifierFixture, "verifier rejects a typ other than JWT and any crit header") {
  Json header = Header();
  header["typ"] = "at+jwt";
  std::string token = CraftHeader(header);
  RequireRejected(verifier.Verify(token), token, "typ is not JWT");
  header = Header();
  header["crit"] = Json::array({"exp"});
  token = CraftHeader(header);
  RequireRejected(verifier.Verify(token), token, "crit header is not supported");
  // typ is optional.
  header = Header();
  header.erase("typ");
  CHECK(verifier.Verify(CraftHeader(header)).ok());
}

// ---- Keys and signatures ----

TEST_CASE_METHOD(VerifierFixture, "verifier rejects an unknown kid") {
  Json header = Header();
  header["kid"] = "AAAAAAAAAAAAAAAA";
  std::string token = CraftHeader(header);
  RequireRejected(verifier.Verify(token), token, "unknown kid");
  // A token from another key names that key.
  const TestKey other = MakeTestKey();
  header["kid"] = other.private_key.KeyId();
  token = CraftRaw(other.private_key, header.dump(), Payload().dump());
  RequireRejected(verifier.Verify(token), token, "unknown kid");
}

TEST_CASE_METHOD(VerifierFixture, "verifier rejects a token without a string kid") {
  Json header = Header();
  header.erase("kid");
  std::string token = CraftHeader(header);
  RequireRejected(verifier.Verify(token), token, "missing kid");
  header["kid"] = 7;
  token = CraftHeader(header);
  RequireRejected(verifier.Verify(token), token, "kid is not a string");
}

TEST_CASE_METHOD(VerifierFixture, "verifier rejects a bad signature") {
  const std::vector<std::string> parts = Segments(Craft(Header(), Payload()));
  std::string signature = Unwrap(Base64UrlDecodeStrict(parts[2]));
  signature[5] ^= 0x04;
  std::string token = absl::StrCat(parts[0], ".", parts[1], ".", Base64UrlEncode(signature));
  RequireRejected(verifier.Verify(token), token, "bad signature");
  // Another key signing under our kid.
  const TestKey other = MakeTestKey();
  token = CraftRaw(other.private_key, Header().dump(), Payload().dump());
  RequireRejected(verifier.Verify(token), token, "bad signature");
  // A signature of the wrong length.
  token = absl::StrCat(parts[0], ".", parts[1], ".", Base64UrlEncode(signature.substr(0, 63)));
  RequireRejected(verifier.Verify(token), token, "signature is 63 bytes");
}

TEST_CASE_METHOD(VerifierFixture, "verifier rejects a changed payload with the old signature") {
  const std::vector<std::string> parts = Segments(Craft(Header(), Payload()));
  Json payload = Payload();
  payload["role"] = "admin";
  const std::string token =
      absl::StrCat(parts[0], ".", Base64UrlEncode(payload.dump()), ".", parts[2]);
  RequireRejected(verifier.Verify(token), token, "bad signature");
}

// ---- Time ----

TEST_CASE_METHOD(VerifierFixture, "verifier rejects a token expired more than 30 s ago") {
  JwtVerifier uncached(PublicKeys(key), clock, 0);
  Json payload = Payload();
  payload["exp"] = NowSeconds() - 31;
  std::string token = CraftPayload(payload);
  RequireRejected(uncached.Verify(token), token, "token expired");
  payload["exp"] = NowSeconds() - 30;  // exp <= now - leeway is expired
  token = CraftPayload(payload);
  RequireRejected(uncached.Verify(token), token, "token expired");
}

TEST_CASE_METHOD(VerifierFixture, "exp has 30 s of leeway: 29 s past is valid, 31 s past is not") {
  const int64_t exp = NowSeconds();
  Json payload = Payload();
  payload["iat"] = exp - 60;
  payload["exp"] = exp;
  const std::string token = CraftPayload(payload);
  for (size_t capacity : {size_t{0}, size_t{16}}) {
    DYNAMIC_SECTION("cache capacity " << capacity) {
      const JwtVerifier checker(PublicKeys(key), clock, capacity);
      clock.Set(absl::FromUnixSeconds(exp + 29));
      CHECK(checker.Verify(token).ok());
      clock.Set(absl::FromUnixSeconds(exp + 31));
      RequireRejected(checker.Verify(token), token, "token expired");
    }
  }
}

TEST_CASE_METHOD(VerifierFixture, "nbf has 30 s of leeway: 29 s ahead is valid, 31 s is not") {
  JwtVerifier uncached(PublicKeys(key), clock, 0);
  Json payload = Payload();
  payload["nbf"] = NowSeconds() + 29;
  CHECK(uncached.Verify(CraftPayload(payload)).ok());
  payload["nbf"] = NowSeconds() + 30;
  CHECK(uncached.Verify(CraftPayload(payload)).ok());
  payload["nbf"] = NowSeconds() + 31;
  const std::string token = CraftPayload(payload);
  RequireRejected(uncached.Verify(token), token, "token not yet valid (nbf)");
  clock.Advance(absl::Seconds(2));
  CHECK(uncached.Verify(token).ok());
}

TEST_CASE_METHOD(VerifierFixture, "verifier rejects a token issued more than 30 s in the future") {
  JwtVerifier uncached(PublicKeys(key), clock, 0);
  Json payload = Payload();
  payload["iat"] = NowSeconds() + 29;
  CHECK(uncached.Verify(CraftPayload(payload)).ok());
  payload["iat"] = NowSeconds() + 31;
  const std::string token = CraftPayload(payload);
  RequireRejected(uncached.Verify(token), token, "token issued in the future (iat)");
}

// ---- Claims ----

TEST_CASE_METHOD(VerifierFixture, "verifier rejects a wrong iss") {
  for (const char* iss : {"other", "Spine", "spine ", ""}) {
    Json payload = Payload();
    payload["iss"] = iss;
    const std::string token = CraftPayload(payload);
    INFO("iss '" << iss << "'");
    RequireRejected(verifier.Verify(token), token, "wrong iss");
  }
}

TEST_CASE_METHOD(VerifierFixture, "verifier rejects a wrong aud") {
  for (const Json& aud : {Json("other"), Json("SPINE"), Json::array({"other"}), Json::array()}) {
    Json payload = Payload();
    payload["aud"] = aud;
    const std::string token = CraftPayload(payload);
    INFO("aud " << aud.dump());
    RequireRejected(verifier.Verify(token), token, "wrong aud");
  }
}

TEST_CASE_METHOD(VerifierFixture, "verifier accepts aud as an array containing spine") {
  Json payload = Payload();
  payload["aud"] = Json::array({"other", "spine"});
  CHECK(verifier.Verify(CraftPayload(payload)).ok());
}

TEST_CASE_METHOD(VerifierFixture, "verifier rejects a token missing a required claim") {
  for (const char* claim : {"iss", "aud", "sub", "name", "role", "iat", "exp", "jti"}) {
    DYNAMIC_SECTION("without " << claim) {
      Json payload = Payload();
      REQUIRE(payload.erase(claim) == 1);
      const std::string token = CraftPayload(payload);
      RequireRejected(verifier.Verify(token), token, absl::StrCat("missing claim '", claim, "'"));
    }
  }
}

TEST_CASE_METHOD(VerifierFixture, "verifier accepts the service role of internal calls") {
  Json payload = Payload();
  payload["role"] = "service";
  const AccessClaims claims = Unwrap(verifier.Verify(CraftPayload(payload)));
  CHECK(claims.role == "service");
}

TEST_CASE_METHOD(VerifierFixture, "verifier rejects claims of the wrong JSON type") {
  const int64_t now = NowSeconds();
  const std::vector<std::tuple<std::string, Json, std::string>> cases = {
      {"iss", 1, "claim 'iss' is not a string"},
      {"iss", Json::array({"spine"}), "claim 'iss' is not a string"},
      {"aud", 1, "claim 'aud' is not a string or an array"},
      {"aud", Json::array({"spine", 1}), "claim 'aud' is not a string or an array"},
      {"aud", Json::object({{"spine", true}}), "claim 'aud' is not a string or an array"},
      {"sub", 42, "claim 'sub' is not a string"},
      {"sub", nullptr, "claim 'sub' is not a string"},
      {"name", 5, "claim 'name' is not a string"},
      {"role", Json::array({"admin"}), "claim 'role' is not a string"},
      {"iat", std::to_string(now), "claim 'iat' is not an integer"},
      {"iat", static_cast<double>(now), "claim 'iat' is not an integer"},
      {"iat", true, "claim 'iat' is not an integer"},
      {"exp", std::to_string(now + 900), "claim 'exp' is not an integer"},
      {"exp", static_cast<double>(now) + 900.5, "claim 'exp' is not an integer"},
      {"exp", uint64_t{18'000'000'000'000'000'000u}, "claim 'exp' is out of range"},
      {"nbf", "now", "claim 'nbf' is not an integer"},
      {"jti", 7, "claim 'jti' is not a string"},
  };
  for (const auto& [claim, value, reason] : cases) {
    Json payload = Payload();
    payload[claim] = value;
    const std::string token = CraftPayload(payload);
    INFO(claim << " = " << value.dump());
    RequireRejected(verifier.Verify(token), token, reason);
  }
}

TEST_CASE_METHOD(VerifierFixture, "verifier rejects a role other than user, admin or service") {
  for (const char* role : {"root", "Admin", "USER", "user ", ""}) {
    Json payload = Payload();
    payload["role"] = role;
    const std::string token = CraftPayload(payload);
    INFO("role '" << role << "'");
    RequireRejected(verifier.Verify(token), token, "is not user, admin or service");
  }
  Json payload = Payload();
  payload["role"] = "admin";
  CHECK(Unwrap(verifier.Verify(CraftPayload(payload))).role == "admin");
}

TEST_CASE_METHOD(VerifierFixture, "verifier rejects an empty sub or jti") {
  Json payload = Payload();
  payload["sub"] = "";
  std::string token = CraftPayload(payload);
  RequireRejected(verifier.Verify(token), token, "claim 'sub' is empty");
  payload = Payload();
  payload["jti"] = "";
  token = CraftPayload(payload);
  RequireRejected(verifier.Verify(token), token, "claim 'jti' is empty");
}

// ---- Structure and encoding ----

TEST_CASE_METHOD(VerifierFixture, "verifier rejects tokens with two or four segments") {
  const std::vector<std::string> parts = Segments(Craft(Header(), Payload()));
  const std::string two = absl::StrCat(parts[0], ".", parts[1]);
  RequireRejected(verifier.Verify(two), two, "token has 2 segments, want 3");
  const std::string four = absl::StrCat(parts[0], ".", parts[1], ".", parts[2], ".", parts[2]);
  RequireRejected(verifier.Verify(four), four, "token has 4 segments, want 3");
  const std::string trailing_dot = absl::StrCat(parts[0], ".", parts[1], ".", parts[2], ".");
  RequireRejected(verifier.Verify(trailing_dot), trailing_dot, "token has 4 segments, want 3");
  RequireRejected(verifier.Verify(parts[0]), parts[0], "token has 1 segments, want 3");
  RequireRejected(verifier.Verify(""), "", "token has 1 segments, want 3");
}

TEST_CASE_METHOD(VerifierFixture, "verifier rejects empty segments") {
  const std::vector<std::string> parts = Segments(Craft(Header(), Payload()));
  const std::vector<std::pair<std::string, std::string>> cases = {
      {absl::StrCat(".", parts[1], ".", parts[2]), "header segment is empty"},
      {absl::StrCat(parts[0], "..", parts[2]), "payload segment is empty"},
      {absl::StrCat(parts[0], ".", parts[1], "."), "signature segment is empty"},
      {"..", "header segment is empty"},
  };
  for (const auto& [token, reason] : cases) {
    RequireRejected(verifier.Verify(token), token, reason);
  }
}

TEST_CASE_METHOD(VerifierFixture, "verifier rejects padded base64url in any segment") {
  // Lengths of 1 and 2 mod 3 encode with "==" and "=" padding respectively.
  for (size_t remainder : {size_t{1}, size_t{2}}) {
    DYNAMIC_SECTION("json length " << remainder << " mod 3") {
      const std::string padding = remainder == 1 ? "==" : "=";
      const std::string header = Base64UrlEncode(WithLengthMod3(Header().dump(), remainder));
      const std::string payload = Base64UrlEncode(WithLengthMod3(Payload().dump(), remainder));
      // Unpadded, these spellings are fine.
      REQUIRE(verifier.Verify(SignSegments(key.private_key, header, payload)).ok());

      std::string token = SignSegments(key.private_key, header + padding, payload);
      RequireRejected(verifier.Verify(token), token, "header is not canonical");
      token = SignSegments(key.private_key, header, payload + padding);
      RequireRejected(verifier.Verify(token), token, "payload is not canonical");
    }
  }
  const std::string token = Craft(Header(), Payload()) + "==";  // 64 bytes: 86 chars + "=="
  RequireRejected(verifier.Verify(token), token, "signature is not canonical");
}

TEST_CASE_METHOD(VerifierFixture, "verifier rejects non-canonical base64url in any segment") {
  const std::string header = Base64UrlEncode(WithLengthMod3(Header().dump(), 1));
  const std::string payload = Base64UrlEncode(WithLengthMod3(Payload().dump(), 2));
  REQUIRE(verifier.Verify(SignSegments(key.private_key, header, payload)).ok());

  std::string token = SignSegments(key.private_key, WithStrayBit(header), payload);
  RequireRejected(verifier.Verify(token), token, "header is not canonical");
  token = SignSegments(key.private_key, header, WithStrayBit(payload));
  RequireRejected(verifier.Verify(token), token, "payload is not canonical");
  // Same signature bytes, re-spelled: a lax decoder would accept it as valid.
  const std::vector<std::string> parts = Segments(SignSegments(key.private_key, header, payload));
  token = absl::StrCat(parts[0], ".", parts[1], ".", WithStrayBit(parts[2]));
  RequireRejected(verifier.Verify(token), token, "signature is not canonical");
  // A length of 1 mod 4 is never an encoding.
  const std::string whole_groups = Base64UrlEncode(WithLengthMod3(Payload().dump(), 0));
  REQUIRE(verifier.Verify(SignSegments(key.private_key, header, whole_groups)).ok());
  token = SignSegments(key.private_key, header, whole_groups + "A");
  RequireRejected(verifier.Verify(token), token, "payload is not canonical");
}

TEST_CASE_METHOD(VerifierFixture, "verifier rejects the standard base64 alphabet in a segment") {
  // Any 3-byte group ending in '?' (0x3f) encodes to a final '_', one ending in '>' to '-';
  // six alternating bytes hold one group end of each.
  Json claims = Payload();
  claims["name"] = "?>?>?>";
  const std::string payload = Base64UrlEncode(claims.dump());
  REQUIRE(payload.find('_') != std::string::npos);
  REQUIRE(payload.find('-') != std::string::npos);
  const std::string header = Base64UrlEncode(Header().dump());
  REQUIRE(verifier.Verify(SignSegments(key.private_key, header, payload)).ok());

  std::string token =
      SignSegments(key.private_key, header, absl::StrReplaceAll(payload, {{"_", "/"}}));
  RequireRejected(verifier.Verify(token), token, "payload is not canonical");
  token = SignSegments(key.private_key, header, absl::StrReplaceAll(payload, {{"-", "+"}}));
  RequireRejected(verifier.Verify(token), token, "payload is not canonical");
}

// ---- JSON ----

TEST_CASE_METHOD(VerifierFixture, "verifier rejects duplicate keys in the header") {
  const std::string kid_json = Json(kid).dump();
  // With last-key-wins parsing each of these would pass as a valid EdDSA header.
  for (const std::string& header :
       {absl::StrCat(R"({"alg":"none","alg":"EdDSA","typ":"JWT","kid":)", kid_json, "}"),
        absl::StrCat(R"({"alg":"EdDSA","typ":"JWT","kid":"unknown","kid":)", kid_json, "}"),
        absl::StrCat(R"({"alg":"EdDSA","typ":"JWT","typ":"JWT","kid":)", kid_json, "}")}) {
    const std::string token = CraftRaw(key.private_key, header, Payload().dump());
    INFO(header);
    RequireRejected(verifier.Verify(token), token, "header has duplicate key");
  }
}

TEST_CASE_METHOD(VerifierFixture, "verifier rejects duplicate keys in the payload") {
  const std::string body = Payload().dump();  // {"aud":...,"role":"user","sub":...}
  const std::string role_twice = absl::StrReplaceAll(body, {{"{", R"({"role":"admin",)"}});
  std::string token = CraftRaw(key.private_key, Header().dump(), role_twice);
  RequireRejected(verifier.Verify(token), token, "payload has duplicate key 'role'");
  // The same key spelled with an escape is still the same key.
  const std::string escaped_twice = absl::StrReplaceAll(body, {{"{", R"({"r\u006fle":"admin",)"}});
  token = CraftRaw(key.private_key, Header().dump(), escaped_twice);
  RequireRejected(verifier.Verify(token), token, "payload has duplicate key 'role'");
  // And inside a nested object.
  Json payload = Payload();
  payload["ctx"] = Json::object({{"a", 1}});
  const std::string nested = absl::StrReplaceAll(payload.dump(), {{R"("a":1)", R"("a":1,"a":2)"}});
  token = CraftRaw(key.private_key, Header().dump(), nested);
  RequireRejected(verifier.Verify(token), token, "payload has duplicate key 'a'");
}

TEST_CASE_METHOD(VerifierFixture, "verifier allows the same key in different objects") {
  Json payload = Payload();
  payload["ctx"] = Json::object({{"role", "other"}, {"sub", Json::object({{"sub", 1}})}});
  payload["list"] = Json::array({Json::object({{"k", 1}}), Json::object({{"k", 2}})});
  const AccessClaims claims = Unwrap(verifier.Verify(CraftPayload(payload)));
  CHECK(claims.role == "user");
  CHECK(claims.sub == "u-42");
}

TEST_CASE_METHOD(VerifierFixture,
                 "verifier rejects a header or payload that is not a JSON object") {
  for (const Json& value :
       {Json::array({Header()}), Json("EdDSA"), Json(1), Json(nullptr), Json(true)}) {
    INFO(value.dump());
    std::string token = CraftRaw(key.private_key, value.dump(), Payload().dump());
    RequireRejected(verifier.Verify(token), token, "header is not a JSON object");
    token = CraftRaw(key.private_key, Header().dump(), value.dump());
    RequireRejected(verifier.Verify(token), token, "payload is not a JSON object");
  }
}

TEST_CASE_METHOD(VerifierFixture, "verifier rejects a header or payload that is not valid JSON") {
  const std::string header = Header().dump();
  const std::string payload = Payload().dump();
  for (const std::string& bad :
       {header.substr(0, header.size() - 1), header + "x", header + "{}", "/*c*/" + header,
        absl::StrReplaceAll(header, {{"\"", "'"}}), std::string(" ")}) {
    INFO(bad);
    const std::string token = CraftRaw(key.private_key, bad, payload);
    RequireRejected(verifier.Verify(token), token, "header is not valid JSON");
  }
  for (const std::string& bad : {payload.substr(0, payload.size() - 1), payload + "]",
                                 absl::StrReplaceAll(payload, {{":", "="}})}) {
    INFO(bad);
    const std::string token = CraftRaw(key.private_key, header, bad);
    RequireRejected(verifier.Verify(token), token, "payload is not valid JSON");
  }
}

TEST_CASE_METHOD(VerifierFixture, "verifier rejects invalid UTF-8 in the header or payload") {
  Json payload = Payload();
  payload["name"] = "NAME";
  const std::string payload_template = payload.dump();
  // A stray continuation byte, an overlong '/', an encoded surrogate, a truncated sequence, and a
  // lone surrogate escape.
  for (const std::string& name :
       {std::string("\xff"), std::string("\xc0\xaf"), std::string("\xed\xa0\x80"),
        std::string("\xe2\x82"), std::string("\\ud800")}) {
    const std::string bad = absl::StrReplaceAll(payload_template, {{"NAME", name}});
    const std::string token = CraftRaw(key.private_key, Header().dump(), bad);
    RequireRejected(verifier.Verify(token), token, "payload is not valid JSON");
  }
  const std::string bad_header = absl::StrReplaceAll(Header().dump(), {{"\"JWT\"", "\"JWT\xff\""}});
  std::string token = CraftRaw(key.private_key, bad_header, Payload().dump());
  RequireRejected(verifier.Verify(token), token, "header is not valid JSON");
  // A byte order mark is not part of what a signer writes either.
  token = CraftRaw(key.private_key, "\xEF\xBB\xBF" + Header().dump(), Payload().dump());
  RequireRejected(verifier.Verify(token), token, "header starts with a byte order mark");
}

TEST_CASE_METHOD(VerifierFixture, "verifier rejects NUL bytes after the JSON") {
  // nlohmann treats NUL as the end of input, so "{...}\0" would otherwise parse as "{...}":
  // a second spelling of the same token.
  const std::string nul(1, '\0');
  std::string token = CraftRaw(key.private_key, Header().dump() + nul, Payload().dump());
  RequireRejected(verifier.Verify(token), token, "header contains a NUL byte");
  token = CraftRaw(key.private_key, Header().dump(), Payload().dump() + nul + "junk");
  RequireRejected(verifier.Verify(token), token, "payload contains a NUL byte");
}

// ---- Size ----

TEST_CASE_METHOD(VerifierFixture, "verifier rejects tokens over 8 KiB before parsing them") {
  const std::string garbage(8193, '.');
  RequireRejected(verifier.Verify(garbage), garbage, "token is 8193 bytes, at most 8192");

  // A correctly signed token just under the limit passes; just over, it does not.
  const auto token_with_name = [&](size_t length) {
    Json payload = Payload();
    payload["name"] = std::string(length, 'n');
    return CraftPayload(payload);
  };
  size_t length = 5000;
  REQUIRE(token_with_name(length).size() <= kJwtMaxTokenBytes);
  while (token_with_name(length + 1).size() <= kJwtMaxTokenBytes) ++length;
  const std::string largest = token_with_name(length);
  CHECK(largest.size() > kJwtMaxTokenBytes - 4);
  CHECK(Unwrap(verifier.Verify(largest)).name.size() == length);
  const std::string too_large = token_with_name(length + 1);
  RequireRejected(verifier.Verify(too_large), too_large, "at most 8192");
}

// ---- Cache ----

TEST_CASE_METHOD(VerifierFixture, "a cache hit still honours expiry") {
  Json payload = Payload();
  payload["exp"] = NowSeconds() + 60;
  const std::string token = CraftPayload(payload);
  REQUIRE(verifier.Verify(token).ok());
  CHECK(verifier.cache_size() == 1);
  REQUIRE(verifier.Verify(token).ok());  // served from the cache
  clock.Advance(absl::Seconds(60 + 31));
  RequireRejected(verifier.Verify(token), token, "token expired");
  CHECK(verifier.cache_size() == 0);
}

TEST_CASE_METHOD(VerifierFixture, "the verified-token cache is bounded") {
  const JwtVerifier small(PublicKeys(key), clock, 2);
  std::vector<std::string> tokens;
  for (int i = 0; i < 5; ++i) {
    Json payload = Payload();
    payload["sub"] = absl::StrCat("u-", i);
    payload["exp"] = NowSeconds() + 100 + i;
    tokens.push_back(CraftPayload(payload));
  }
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 5; ++i) {
      const AccessClaims claims = Unwrap(small.Verify(tokens[i]));
      CHECK(claims.sub == absl::StrCat("u-", i));
      CHECK(small.cache_size() <= 2);
    }
  }
  CHECK(small.cache_size() == 2);
  // Entries evicted or not, expiry still applies to all of them.
  clock.Advance(absl::Seconds(200));
  for (const std::string& token : tokens) {
    RequireRejected(small.Verify(token), token, "token expired");
  }
}

TEST_CASE_METHOD(VerifierFixture, "only successful verifications are cached") {
  Json payload = Payload();
  payload["role"] = "root";
  const std::string token = CraftPayload(payload);
  RequireRejected(verifier.Verify(token), token, "is not user, admin or service");
  RequireRejected(verifier.Verify(token), token, "is not user, admin or service");
  CHECK(verifier.cache_size() == 0);
}

TEST_CASE_METHOD(VerifierFixture, "verifier can be shared by several threads") {
  const JwtVerifier shared(PublicKeys(key), clock, 3);
  std::vector<std::string> tokens;
  for (int i = 0; i < 6; ++i) {
    Json payload = Payload();
    payload["sub"] = absl::StrCat("u-", i);
    tokens.push_back(CraftPayload(payload));
  }
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 50; ++round) {
        const size_t i = static_cast<size_t>(round + t) % tokens.size();
        const auto claims = shared.Verify(tokens[i]);
        if (!claims.ok() || claims->sub != absl::StrCat("u-", i)) ++wrong;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  CHECK(wrong.load() == 0);
  CHECK(shared.cache_size() <= 3);
}

}  // namespace
}  // namespace spine
