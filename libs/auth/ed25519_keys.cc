#include "libs/auth/ed25519_keys.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <fstream>
#include <limits>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "libs/auth/base64url.h"
#include "libs/auth/openssl_error.h"
#include "libs/core/status.h"

namespace spine {
namespace internal {

void EvpPkeyDeleter::operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }

}  // namespace internal

namespace {

constexpr size_t kRawPublicKeySize = 32;
constexpr size_t kSignatureSize = 64;
constexpr size_t kKeyIdDigestBytes = 12;

struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

// Refuses to prompt on the terminal for an encrypted key's passphrase (OpenSSL's default).
int NoPassphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*userdata*/) { return -1; }

absl::StatusOr<BioPtr> MemBio(std::string_view text) {
  if (text.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return absl::InvalidArgumentError(absl::StrCat("PEM: ", text.size(), " bytes is too long"));
  }
  BioPtr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  if (bio == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("PEM: BIO_new_mem_buf: ", TakeOpenSslError()));
  }
  return bio;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("key file '", path, "' cannot be opened"));
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) return absl::NotFoundError(absl::StrCat("key file '", path, "' cannot be read"));
  return std::move(contents).str();
}

absl::Status RequireEd25519(const EVP_PKEY* key, absl::string_view what) {
  if (EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
    const char* type = EVP_PKEY_get0_type_name(key);
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": key type is ", type != nullptr ? type : "unknown", ", want ED25519"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> RawPublicKey(const EVP_PKEY* key) {
  std::string raw(kRawPublicKeySize, '\0');
  size_t len = raw.size();
  if (EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char*>(raw.data()), &len) != 1 ||
      len != kRawPublicKeySize) {
    return absl::InternalError(
        absl::StrCat("Ed25519: cannot read the raw public key: ", TakeOpenSslError()));
  }
  return raw;
}

absl::StatusOr<std::string> KeyIdFor(std::string_view raw_public_key) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  if (EVP_Digest(raw_public_key.data(), raw_public_key.size(), digest, &digest_len, EVP_sha256(),
                 nullptr) != 1) {
    return absl::InternalError(absl::StrCat("Ed25519: SHA-256 of key: ", TakeOpenSslError()));
  }
  return Base64UrlEncode(
      std::string_view(reinterpret_cast<const char*>(digest), kKeyIdDigestBytes));
}

absl::StatusOr<std::string> WritePem(const EVP_PKEY* key, bool private_part) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("PEM: BIO_new: ", TakeOpenSslError()));
  }
  const int ok =
      private_part ? PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr)
                   : PEM_write_bio_PUBKEY(bio.get(), key);
  if (ok != 1) {
    return absl::InternalError(absl::StrCat("PEM: write: ", TakeOpenSslError()));
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  if (len <= 0 || data == nullptr) return absl::InternalError("PEM: write produced nothing");
  return std::string(data, static_cast<size_t>(len));
}

}  // namespace

// ---- Ed25519PrivateKey ----

absl::StatusOr<Ed25519PrivateKey> Ed25519PrivateKey::FromPem(std::string_view pem) {
  SPINE_ASSIGN_OR_RETURN(BioPtr bio, MemBio(pem));
  internal::EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr));
  if (key == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Ed25519 private key: not an unencrypted PEM private key (", TakeOpenSslError(), ")"));
  }
  SPINE_RETURN_IF_ERROR(RequireEd25519(key.get(), "Ed25519 private key"));
  SPINE_ASSIGN_OR_RETURN(std::string raw, RawPublicKey(key.get()));
  SPINE_ASSIGN_OR_RETURN(std::string key_id, KeyIdFor(raw));
  return Ed25519PrivateKey(std::move(key), std::move(key_id));
}

namespace {

// Reads a PEM file and parses it with Key::FromPem, naming the file in any error.
template <typename Key>
absl::StatusOr<Key> KeyFromPemFile(const std::string& path) {
  SPINE_ASSIGN_OR_RETURN(std::string pem, ReadFile(path));
  auto key = Key::FromPem(pem);
  if (!key.ok()) {
    return absl::Status(key.status().code(),
                        absl::StrCat("key file '", path, "': ", key.status().message()));
  }
  return key;
}

}  // namespace

absl::StatusOr<Ed25519PrivateKey> Ed25519PrivateKey::FromPemFile(const std::string& path) {
  return KeyFromPemFile<Ed25519PrivateKey>(path);
}

absl::StatusOr<Ed25519PublicKey> Ed25519PrivateKey::PublicKey() const {
  SPINE_ASSIGN_OR_RETURN(std::string raw, RawPublicKey(key_.get()));
  return Ed25519PublicKey::FromRaw(raw);
}

absl::StatusOr<std::string> Ed25519PrivateKey::Sign(std::string_view data) const {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (ctx == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("Ed25519 sign: ", TakeOpenSslError()));
  }
  // Ed25519 is PureEdDSA: no digest is configured, and signing is one-shot.
  if (EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) != 1) {
    return absl::InternalError(absl::StrCat("Ed25519 sign init: ", TakeOpenSslError()));
  }
  std::string signature(kSignatureSize, '\0');
  size_t len = signature.size();
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &len,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1 ||
      len != kSignatureSize) {
    return absl::InternalError(absl::StrCat("Ed25519 sign: ", TakeOpenSslError()));
  }
  return signature;
}

// ---- Ed25519PublicKey ----

absl::StatusOr<Ed25519PublicKey> Ed25519PublicKey::FromEvp(internal::EvpPkeyPtr key) {
  SPINE_ASSIGN_OR_RETURN(std::string raw, RawPublicKey(key.get()));
  SPINE_ASSIGN_OR_RETURN(std::string key_id, KeyIdFor(raw));
  return Ed25519PublicKey(std::move(key), std::move(raw), std::move(key_id));
}

absl::StatusOr<Ed25519PublicKey> Ed25519PublicKey::FromPem(std::string_view pem) {
  SPINE_ASSIGN_OR_RETURN(BioPtr bio, MemBio(pem));
  internal::EvpPkeyPtr key(PEM_read_bio_PUBKEY(bio.get(), nullptr, NoPassphrase, nullptr));
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("Ed25519 public key: not a PEM public key (", TakeOpenSslError(), ")"));
  }
  SPINE_RETURN_IF_ERROR(RequireEd25519(key.get(), "Ed25519 public key"));
  return FromEvp(std::move(key));
}

absl::StatusOr<Ed25519PublicKey> Ed25519PublicKey::FromPemFile(const std::string& path) {
  return KeyFromPemFile<Ed25519PublicKey>(path);
}

absl::StatusOr<std::vector<Ed25519PublicKey>> Ed25519PublicKey::AllFromPem(std::string_view pem) {
  static constexpr std::string_view kBegin = "-----BEGIN PUBLIC KEY-----";
  static constexpr std::string_view kEnd = "-----END PUBLIC KEY-----";
  std::vector<Ed25519PublicKey> keys;
  size_t at = pem.find(kBegin);
  while (at != std::string_view::npos) {
    const size_t end = pem.find(kEnd, at);
    if (end == std::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("public key block ", keys.size() + 1, ": no END line"));
    }
    auto key = FromPem(pem.substr(at, end + kEnd.size() - at));
    if (!key.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("public key block ", keys.size() + 1, ": ", key.status().message()));
    }
    keys.push_back(*std::move(key));
    at = pem.find(kBegin, end);
  }
  if (keys.empty()) return absl::InvalidArgumentError("no PEM \"PUBLIC KEY\" block");
  return keys;
}

absl::StatusOr<std::vector<Ed25519PublicKey>> Ed25519PublicKey::AllFromPemFile(
    const std::string& path) {
  SPINE_ASSIGN_OR_RETURN(std::string pem, ReadFile(path));
  auto keys = AllFromPem(pem);
  if (!keys.ok()) {
    return absl::Status(keys.status().code(),
                        absl::StrCat("key file '", path, "': ", keys.status().message()));
  }
  return keys;
}

absl::StatusOr<Ed25519PublicKey> Ed25519PublicKey::FromPrivate(
    const Ed25519PrivateKey& private_key) {
  return private_key.PublicKey();
}

absl::StatusOr<Ed25519PublicKey> Ed25519PublicKey::FromRaw(std::string_view raw) {
  if (raw.size() != kRawPublicKeySize) {
    return absl::InvalidArgumentError(
        absl::StrCat("Ed25519 public key: ", raw.size(), " bytes, want ", kRawPublicKeySize));
  }
  internal::EvpPkeyPtr key(EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(raw.data()), raw.size()));
  if (key == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("Ed25519 public key: ", TakeOpenSslError()));
  }
  return FromEvp(std::move(key));
}

absl::StatusOr<std::string> Ed25519PublicKey::ToPem() const {
  return WritePem(key_.get(), /*private_part=*/false);
}

bool Ed25519PublicKey::Verify(std::string_view data, std::string_view signature) const {
  if (signature.size() != kSignatureSize) return false;
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (ctx == nullptr) {
    TakeOpenSslError();
    return false;
  }
  // A fresh context per call: the shared EVP_PKEY is only read, which OpenSSL 3 allows from
  // many threads at once.
  const bool ok =
      EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) == 1 &&
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                       signature.size(), reinterpret_cast<const unsigned char*>(data.data()),
                       data.size()) == 1;
  if (!ok) TakeOpenSslError();
  return ok;
}

// ---- Key generation ----

absl::StatusOr<std::pair<std::string, std::string>> GenerateEd25519PemPair() {
  internal::EvpPkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (key == nullptr) {
    return absl::InternalError(absl::StrCat("Ed25519 keygen: ", TakeOpenSslError()));
  }
  SPINE_ASSIGN_OR_RETURN(std::string private_pem, WritePem(key.get(), /*private_part=*/true));
  SPINE_ASSIGN_OR_RETURN(std::string public_pem, WritePem(key.get(), /*private_part=*/false));
  return std::make_pair(std::move(private_pem), std::move(public_pem));
}

}  // namespace spine
