// Ed25519 signing and verification keys, loaded from PEM, for JWT signing (see jwt.h).
//
// Both classes are move-only RAII owners of an OpenSSL EVP_PKEY that is checked to be Ed25519 on
// load, so a misconfigured RSA/EC/X25519 key fails at start rather than at the first token.
// After construction a key is immutable: const methods may be called from any thread at once.
#pragma once

#include <openssl/types.h>

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace spine {

namespace internal {
struct EvpPkeyDeleter {
  void operator()(EVP_PKEY* key) const;
};
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;
}  // namespace internal

class Ed25519PublicKey;

// The private half: signs. Holds the derived key id of its public half.
class Ed25519PrivateKey {
 public:
  // Parses an unencrypted PEM private key (PKCS#8 "PRIVATE KEY"). INVALID_ARGUMENT when the text
  // is not a PEM private key, is encrypted, or is not Ed25519.
  static absl::StatusOr<Ed25519PrivateKey> FromPem(std::string_view pem);
  // Reads `path` and parses it as FromPem does. NOT_FOUND when the file cannot be read.
  static absl::StatusOr<Ed25519PrivateKey> FromPemFile(const std::string& path);

  Ed25519PrivateKey(Ed25519PrivateKey&&) noexcept = default;
  Ed25519PrivateKey& operator=(Ed25519PrivateKey&&) noexcept = default;
  Ed25519PrivateKey(const Ed25519PrivateKey&) = delete;
  Ed25519PrivateKey& operator=(const Ed25519PrivateKey&) = delete;
  ~Ed25519PrivateKey() = default;

  // The matching public key (an independent copy).
  absl::StatusOr<Ed25519PublicKey> PublicKey() const;
  // Same as PublicKey().KeyId(), computed once at load.
  const std::string& KeyId() const { return key_id_; }
  // The 64-byte Ed25519 signature of `data` (PureEdDSA: deterministic, no pre-hash).
  absl::StatusOr<std::string> Sign(std::string_view data) const;

 private:
  Ed25519PrivateKey(internal::EvpPkeyPtr key, std::string key_id)
      : key_(std::move(key)), key_id_(std::move(key_id)) {}

  internal::EvpPkeyPtr key_;
  std::string key_id_;
};

// The public half: verifies, and names itself with a key id derived from its bytes.
class Ed25519PublicKey {
 public:
  // Parses a PEM public key (SubjectPublicKeyInfo "PUBLIC KEY"). INVALID_ARGUMENT when the text
  // is not a PEM public key or is not Ed25519.
  static absl::StatusOr<Ed25519PublicKey> FromPem(std::string_view pem);
  // Reads `path` and parses it as FromPem does. NOT_FOUND when the file cannot be read.
  static absl::StatusOr<Ed25519PublicKey> FromPemFile(const std::string& path);
  // Every "PUBLIC KEY" block of a PEM bundle, in order (key rotation: the new key and the ones
  // still trusted). INVALID_ARGUMENT naming the block when one does not parse, or when the text
  // holds no block at all.
  static absl::StatusOr<std::vector<Ed25519PublicKey>> AllFromPem(std::string_view pem);
  // Reads `path` and parses it as AllFromPem does.
  static absl::StatusOr<std::vector<Ed25519PublicKey>> AllFromPemFile(const std::string& path);
  // The public half of `private_key`; same as private_key.PublicKey().
  static absl::StatusOr<Ed25519PublicKey> FromPrivate(const Ed25519PrivateKey& private_key);
  // Wraps a raw 32-byte Ed25519 public key. INVALID_ARGUMENT for any other length.
  static absl::StatusOr<Ed25519PublicKey> FromRaw(std::string_view raw);

  Ed25519PublicKey(Ed25519PublicKey&&) noexcept = default;
  Ed25519PublicKey& operator=(Ed25519PublicKey&&) noexcept = default;
  Ed25519PublicKey(const Ed25519PublicKey&) = delete;
  Ed25519PublicKey& operator=(const Ed25519PublicKey&) = delete;
  ~Ed25519PublicKey() = default;

  // base64url (no padding) of the first 12 bytes of SHA-256 over the raw 32-byte public key:
  // 16 characters, stable for the key, so the JWT `kid` is derived rather than configured.
  const std::string& KeyId() const { return key_id_; }
  // The raw 32-byte public key.
  const std::string& Raw() const { return raw_; }
  // The key as a PEM SubjectPublicKeyInfo ("PUBLIC KEY") block.
  absl::StatusOr<std::string> ToPem() const;
  // True when `signature` is a valid Ed25519 signature of `data` by this key. Never throws;
  // malformed signatures (wrong length, bad encoding) are simply false.
  bool Verify(std::string_view data, std::string_view signature) const;

 private:
  friend class Ed25519PrivateKey;
  // Takes an EVP_PKEY already known to be Ed25519.
  static absl::StatusOr<Ed25519PublicKey> FromEvp(internal::EvpPkeyPtr key);
  Ed25519PublicKey(internal::EvpPkeyPtr key, std::string raw, std::string key_id)
      : key_(std::move(key)), raw_(std::move(raw)), key_id_(std::move(key_id)) {}

  internal::EvpPkeyPtr key_;
  std::string raw_;
  std::string key_id_;
};

// Generates a fresh Ed25519 key pair and returns (private PEM in PKCS#8, public PEM in SPKI).
// For tests, the integration harness and first-start key provisioning.
absl::StatusOr<std::pair<std::string, std::string>> GenerateEd25519PemPair();

}  // namespace spine
