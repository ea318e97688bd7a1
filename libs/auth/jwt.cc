#include "libs/auth/jwt.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <limits>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "libs/auth/base64url.h"
#include "libs/core/status.h"
#include "nlohmann/json.hpp"

namespace spine {
namespace {

using Json = nlohmann::json;

constexpr std::string_view kAlg = "EdDSA";
constexpr std::string_view kTyp = "JWT";
constexpr size_t kJtiBytes = 16;
constexpr size_t kSignatureBytes = 64;

absl::Status Reject(absl::string_view reason) {
  return absl::UnauthenticatedError(absl::StrCat("jwt: ", reason));
}

// Token-supplied text (an alg, a key name) is quoted in a reason only when it is short and plain,
// so a reason can never carry a token, a control character or a wall of attacker text.
std::string Quoted(std::string_view text) {
  constexpr size_t kMaxQuoted = 24;
  if (text.empty() || text.size() > kMaxQuoted) return "(not shown)";
  for (char c : text) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '+' &&
        c != '.') {
      return "(not shown)";
    }
  }
  return absl::StrCat("'", absl::string_view(text.data(), text.size()), "'");
}

// "service" is the role of the tokens Spine services call each other with (internal RPCs).
bool IsKnownRole(std::string_view role) {
  return role == "user" || role == "admin" || role == "service";
}

absl::StatusOr<std::string> Sha256(std::string_view data) {
  std::string digest(32, '\0');
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), reinterpret_cast<unsigned char*>(digest.data()), &len,
                 EVP_sha256(), nullptr) != 1 ||
      len != digest.size()) {
    return absl::InternalError("jwt: SHA-256 of token failed");
  }
  return digest;
}

// Parses `text` as one JSON object. Unlike plain nlohmann parsing, a key repeated within one
// object is an error (nlohmann would silently keep the last one, letting a token say two things).
// nlohmann itself rejects invalid UTF-8, lone surrogate escapes, comments and trailing bytes.
absl::StatusOr<Json> ParseJsonObject(std::string_view text, absl::string_view part) {
  // nlohmann skips a leading UTF-8 byte order mark; a signer never writes one.
  if (text.substr(0, 3) == "\xEF\xBB\xBF") {
    return Reject(absl::StrCat(part, " starts with a byte order mark"));
  }
  // nlohmann stops at a NUL as if the input ended there, which would let "{...}\0junk" pass as
  // "{...}". JSON has no raw NUL anywhere (inside strings it must be escaped).
  if (text.find('\0') != std::string_view::npos) {
    return Reject(absl::StrCat(part, " contains a NUL byte"));
  }
  std::vector<absl::flat_hash_set<std::string>> open_objects;
  std::string duplicate;
  bool has_duplicate = false;
  const Json::parser_callback_t track_keys = [&](int /*depth*/, Json::parse_event_t event,
                                                 Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
        open_objects.emplace_back();
        break;
      case Json::parse_event_t::object_end:
        if (!open_objects.empty()) open_objects.pop_back();
        break;
      case Json::parse_event_t::key:
        if (!open_objects.empty() && parsed.is_string() &&
            !open_objects.back().insert(parsed.get<std::string>()).second && !has_duplicate) {
          has_duplicate = true;
          duplicate = parsed.get<std::string>();
        }
        break;
      default:
        break;
    }
    return true;
  };
  Json value;
  try {
    value = Json::parse(text.begin(), text.end(), track_keys, /*allow_exceptions=*/true,
                        /*ignore_comments=*/false);
  } catch (const Json::parse_error& e) {
    // e.what() quotes the bytes around the error, i.e. part of the token: report the offset only.
    return Reject(absl::StrCat(part, " is not valid JSON (byte ", e.byte, ")"));
  } catch (const Json::exception&) {
    return Reject(absl::StrCat(part, " is not valid JSON"));
  }
  if (has_duplicate) {
    return Reject(absl::StrCat(part, " has duplicate key ", Quoted(duplicate)));
  }
  if (!value.is_object()) return Reject(absl::StrCat(part, " is not a JSON object"));
  return value;
}

absl::StatusOr<std::string> StringClaim(const Json& payload, const char* name, bool required) {
  const auto it = payload.find(name);
  if (it == payload.end()) {
    if (required) return Reject(absl::StrCat("missing claim '", name, "'"));
    return std::string();
  }
  if (!it->is_string()) return Reject(absl::StrCat("claim '", name, "' is not a string"));
  return it->get<std::string>();
}

absl::StatusOr<std::optional<absl::Time>> NumericDateClaim(const Json& payload, const char* name,
                                                           bool required) {
  const auto it = payload.find(name);
  if (it == payload.end()) {
    if (required) return Reject(absl::StrCat("missing claim '", name, "'"));
    return std::optional<absl::Time>();
  }
  if (!it->is_number_integer()) {
    return Reject(absl::StrCat("claim '", name, "' is not an integer NumericDate"));
  }
  if (it->is_number_unsigned() &&
      it->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return Reject(absl::StrCat("claim '", name, "' is out of range"));
  }
  return absl::FromUnixSeconds(it->get<int64_t>());
}

absl::Status CheckAudience(const Json& payload) {
  const auto it = payload.find("aud");
  if (it == payload.end()) return Reject("missing claim 'aud'");
  if (it->is_string()) {
    if (it->get<std::string>() != kJwtAudience) return Reject("wrong aud");
    return absl::OkStatus();
  }
  if (!it->is_array()) return Reject("claim 'aud' is not a string or an array of strings");
  bool found = false;
  for (const Json& aud : *it) {
    if (!aud.is_string()) return Reject("claim 'aud' is not a string or an array of strings");
    if (aud.get<std::string>() == kJwtAudience) found = true;
  }
  if (!found) return Reject("wrong aud");
  return absl::OkStatus();
}

absl::StatusOr<AccessClaims> ClaimsFromPayload(const Json& payload) {
  SPINE_ASSIGN_OR_RETURN(const std::string iss, StringClaim(payload, "iss", /*required=*/true));
  if (iss != kJwtIssuer) return Reject("wrong iss");
  SPINE_RETURN_IF_ERROR(CheckAudience(payload));

  AccessClaims claims;
  SPINE_ASSIGN_OR_RETURN(claims.sub, StringClaim(payload, "sub", /*required=*/true));
  if (claims.sub.empty()) return Reject("claim 'sub' is empty");
  SPINE_ASSIGN_OR_RETURN(claims.name, StringClaim(payload, "name", /*required=*/true));
  SPINE_ASSIGN_OR_RETURN(claims.role, StringClaim(payload, "role", /*required=*/true));
  if (!IsKnownRole(claims.role)) {
    return Reject(absl::StrCat("role ", Quoted(claims.role), " is not user, admin or service"));
  }
  SPINE_ASSIGN_OR_RETURN(std::optional<absl::Time> iat,
                         NumericDateClaim(payload, "iat", /*required=*/true));
  SPINE_ASSIGN_OR_RETURN(std::optional<absl::Time> exp,
                         NumericDateClaim(payload, "exp", /*required=*/true));
  SPINE_ASSIGN_OR_RETURN(claims.nbf, NumericDateClaim(payload, "nbf", /*required=*/false));
  claims.iat = *iat;
  claims.exp = *exp;
  SPINE_ASSIGN_OR_RETURN(claims.jti, StringClaim(payload, "jti", /*required=*/true));
  if (claims.jti.empty()) return Reject("claim 'jti' is empty");
  return claims;
}

// The time rule, shared by full verification and cache hits so both agree to the second.
absl::Status CheckTimes(const AccessClaims& claims, absl::Time now) {
  if (claims.exp <= now - kJwtLeeway) return Reject("token expired");
  if (claims.nbf.has_value() && *claims.nbf > now + kJwtLeeway) {
    return Reject("token not yet valid (nbf)");
  }
  if (claims.iat > now + kJwtLeeway) return Reject("token issued in the future (iat)");
  return absl::OkStatus();
}

absl::StatusOr<std::string> DecodeSegment(std::string_view segment, absl::string_view part) {
  auto decoded = Base64UrlDecodeStrict(segment);
  if (!decoded.ok()) {
    return Reject(absl::StrCat(part, " is not canonical unpadded base64url"));
  }
  return decoded;
}

absl::StatusOr<std::string> DumpJson(const Json& value) {
  try {
    return value.dump(-1, ' ', /*ensure_ascii=*/false, Json::error_handler_t::strict);
  } catch (const Json::exception&) {
    return absl::InvalidArgumentError("jwt: claims contain invalid UTF-8");
  }
}

}  // namespace

// ---- JwtSigner ----

JwtSigner::JwtSigner(Ed25519PrivateKey key, const Clock& clock, absl::Duration ttl)
    : key_(std::move(key)), clock_(clock), ttl_(ttl) {}

absl::StatusOr<std::string> JwtSigner::Sign(std::string_view sub, std::string_view name,
                                            std::string_view role, AccessClaims* issued) const {
  if (sub.empty()) return absl::InvalidArgumentError("jwt: sub is empty");
  if (!IsKnownRole(role)) {
    return absl::InvalidArgumentError(
        absl::StrCat("jwt: role ", Quoted(role), " is not user, admin or service"));
  }
  unsigned char jti[kJtiBytes];
  if (RAND_bytes(jti, sizeof(jti)) != 1) {
    return absl::InternalError("jwt: RAND_bytes failed to produce a jti");
  }
  AccessClaims claims;
  claims.sub = std::string(sub);
  claims.name = std::string(name);
  claims.role = std::string(role);
  claims.iat = absl::FromUnixSeconds(absl::ToUnixSeconds(clock_.Now()));
  claims.exp = claims.iat + ttl_;
  claims.jti = Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(jti), sizeof(jti)));
  SPINE_ASSIGN_OR_RETURN(std::string token, SignClaims(claims));
  if (token.size() > kJwtMaxTokenBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("jwt: token would be ", token.size(), " bytes, at most ", kJwtMaxTokenBytes));
  }
  if (issued != nullptr) *issued = std::move(claims);
  return token;
}

absl::StatusOr<std::string> JwtSigner::SignClaims(const AccessClaims& claims) const {
  const Json header = {{"alg", kAlg}, {"typ", kTyp}, {"kid", key_.KeyId()}};
  Json payload = {
      {"iss", kJwtIssuer},
      {"aud", kJwtAudience},
      {"sub", claims.sub},
      {"name", claims.name},
      {"role", claims.role},
      {"iat", absl::ToUnixSeconds(claims.iat)},
      {"exp", absl::ToUnixSeconds(claims.exp)},
      {"jti", claims.jti},
  };
  if (claims.nbf.has_value()) payload["nbf"] = absl::ToUnixSeconds(*claims.nbf);
  SPINE_ASSIGN_OR_RETURN(const std::string header_json, DumpJson(header));
  SPINE_ASSIGN_OR_RETURN(const std::string payload_json, DumpJson(payload));
  std::string token =
      absl::StrCat(Base64UrlEncode(header_json), ".", Base64UrlEncode(payload_json));
  SPINE_ASSIGN_OR_RETURN(const std::string signature, key_.Sign(token));
  absl::StrAppend(&token, ".", Base64UrlEncode(signature));
  return token;
}

// ---- JwtVerifier ----

JwtVerifier::JwtVerifier(std::vector<Ed25519PublicKey> keys, const Clock& clock,
                         size_t cache_capacity)
    : clock_(clock), cache_capacity_(cache_capacity) {
  for (auto it = std::make_move_iterator(keys.begin()); it != std::make_move_iterator(keys.end());
       ++it) {
    Ed25519PublicKey key = *it;
    if (keys_by_id_.contains(key.KeyId())) continue;  // the same key listed twice
    std::string key_id = key.KeyId();
    keys_by_id_.emplace(std::move(key_id), std::move(key));
  }
}

absl::StatusOr<AccessClaims> JwtVerifier::Verify(std::string_view token) const {
  // Before anything else, so an oversized token costs nothing.
  if (token.size() > kJwtMaxTokenBytes) {
    return Reject(absl::StrCat("token is ", token.size(), " bytes, at most ", kJwtMaxTokenBytes));
  }
  const absl::Time now = clock_.Now();
  if (cache_capacity_ == 0) return VerifyUncached(token, now);

  const absl::StatusOr<std::string> hashed = Sha256(token);
  if (!hashed.ok()) return VerifyUncached(token, now);  // no cache rather than no service
  const std::string& digest = *hashed;
  if (auto hit = CacheLookup(digest, now); hit.has_value()) return *std::move(hit);
  SPINE_ASSIGN_OR_RETURN(AccessClaims claims, VerifyUncached(token, now));
  CacheInsert(digest, claims, now);
  return claims;
}

absl::StatusOr<AccessClaims> JwtVerifier::VerifyUncached(std::string_view token,
                                                         absl::Time now) const {
  // Count first: splitting an 8 KiB run of dots would make thousands of pieces for nothing.
  const auto dots = std::count(token.begin(), token.end(), '.');
  if (dots != 2) return Reject(absl::StrCat("token has ", dots + 1, " segments, want 3"));
  const size_t first_dot = token.find('.');
  const size_t second_dot = token.find('.', first_dot + 1);
  const std::string_view segments[] = {token.substr(0, first_dot),
                                       token.substr(first_dot + 1, second_dot - first_dot - 1),
                                       token.substr(second_dot + 1)};
  constexpr absl::string_view kParts[] = {"header", "payload", "signature"};
  for (size_t i = 0; i < 3; ++i) {
    if (segments[i].empty()) return Reject(absl::StrCat(kParts[i], " segment is empty"));
  }
  SPINE_ASSIGN_OR_RETURN(const std::string header_json, DecodeSegment(segments[0], "header"));
  SPINE_ASSIGN_OR_RETURN(const std::string payload_json, DecodeSegment(segments[1], "payload"));
  SPINE_ASSIGN_OR_RETURN(const std::string signature, DecodeSegment(segments[2], "signature"));

  // Header: the algorithm is fixed here, never chosen by the token.
  SPINE_ASSIGN_OR_RETURN(const Json header, ParseJsonObject(header_json, "header"));
  const auto alg = header.find("alg");
  if (alg == header.end()) return Reject("missing alg");
  if (!alg->is_string()) return Reject("alg is not a string");
  if (alg->get<std::string>() != kAlg) {
    return Reject(absl::StrCat("alg ", Quoted(alg->get<std::string>()), " is not allowed"));
  }
  if (const auto typ = header.find("typ");
      typ != header.end() && (!typ->is_string() || typ->get<std::string>() != kTyp)) {
    return Reject("typ is not JWT");
  }
  // RFC 7515 §4.1.11: extensions we do not understand must not be ignored.
  if (header.contains("crit")) return Reject("crit header is not supported");
  const auto kid = header.find("kid");
  if (kid == header.end()) return Reject("missing kid");
  if (!kid->is_string()) return Reject("kid is not a string");
  const auto key = keys_by_id_.find(kid->get<std::string>());
  if (key == keys_by_id_.end()) return Reject("unknown kid");

  // Signature over the exact bytes received, before the payload is even parsed.
  if (signature.size() != kSignatureBytes) {
    return Reject(
        absl::StrCat("signature is ", signature.size(), " bytes, want ", kSignatureBytes));
  }
  const std::string_view signing_input = token.substr(0, second_dot);
  if (!key->second.Verify(signing_input, signature)) return Reject("bad signature");

  SPINE_ASSIGN_OR_RETURN(const Json payload, ParseJsonObject(payload_json, "payload"));
  SPINE_ASSIGN_OR_RETURN(AccessClaims claims, ClaimsFromPayload(payload));
  SPINE_RETURN_IF_ERROR(CheckTimes(claims, now));
  return claims;
}

size_t JwtVerifier::cache_size() const {
  absl::MutexLock lock(&mu_);
  return cache_.size();
}

std::optional<absl::StatusOr<AccessClaims>> JwtVerifier::CacheLookup(const std::string& digest,
                                                                     absl::Time now) const {
  absl::MutexLock lock(&mu_);
  const auto it = cache_.find(digest);
  if (it == cache_.end()) return std::nullopt;
  if (absl::Status times = CheckTimes(it->second.claims, now); !times.ok()) {
    CacheEraseLocked(it);
    return absl::StatusOr<AccessClaims>(std::move(times));
  }
  return absl::StatusOr<AccessClaims>(it->second.claims);
}

void JwtVerifier::CacheInsert(const std::string& digest, const AccessClaims& claims,
                              absl::Time now) const {
  absl::MutexLock lock(&mu_);
  if (cache_.contains(digest)) return;  // another thread verified the same token meanwhile
  if (cache_.size() >= cache_capacity_) {
    // O(capacity), but only when full; tokens share one ttl, so a sweep usually frees plenty.
    for (auto it = cache_.begin(); it != cache_.end();) {
      auto next = std::next(it);
      if (!CheckTimes(it->second.claims, now).ok()) CacheEraseLocked(it);
      it = next;
    }
  }
  while (cache_.size() >= cache_capacity_ && !insertion_order_.empty()) {
    CacheEraseLocked(cache_.find(insertion_order_.front()));
  }
  insertion_order_.push_back(digest);
  cache_.emplace(digest, CacheEntry{claims, std::prev(insertion_order_.end())});
}

void JwtVerifier::CacheEraseLocked(
    absl::flat_hash_map<std::string, CacheEntry>::iterator it) const {
  insertion_order_.erase(it->second.order);
  cache_.erase(it);
}

}  // namespace spine
