#include "services/gateway/auth/edge_identity.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <array>
#include <cstdlib>

#include "absl/strings/escaping.h"
#include "absl/strings/strip.h"

namespace spine::gateway {

EdgeIdentity EdgeIdentity::Generate() {
  std::array<unsigned char, 32> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    // Without randomness the key could be guessed and the forwarded address spoofed; a gateway
    // that cannot draw 32 random bytes has bigger problems anyway.
    std::abort();
  }
  return EdgeIdentity(absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size())));
}

std::optional<IpAddress> IpOfGrpcPeer(absl::string_view peer) {
  absl::string_view host;
  if (absl::ConsumePrefix(&peer, "ipv4:")) {
    host = peer.substr(0, peer.rfind(':'));
  } else if (absl::ConsumePrefix(&peer, "ipv6:")) {
    if (!absl::ConsumePrefix(&peer, "[")) return std::nullopt;
    const size_t close = peer.find(']');
    if (close == absl::string_view::npos) return std::nullopt;
    host = peer.substr(0, close);
    // "%25" is how gRPC writes a zone's '%'; IpAddress::Parse drops zones itself.
    const size_t zone = host.find("%25");
    if (zone != absl::string_view::npos) host = host.substr(0, zone);
  } else {
    return std::nullopt;
  }
  absl::StatusOr<IpAddress> address = IpAddress::Parse(host);
  if (!address.ok()) return std::nullopt;
  return *address;
}

CallClient EdgeIdentity::ClientOf(absl::string_view peer, absl::string_view forwarded_ip,
                                  absl::string_view edge_key) const {
  const bool key_matches = edge_key.size() == key_.size() && !key_.empty() &&
                           CRYPTO_memcmp(edge_key.data(), key_.data(), key_.size()) == 0;
  if (key_matches && !forwarded_ip.empty()) {
    absl::StatusOr<IpAddress> forwarded = IpAddress::Parse(forwarded_ip);
    if (forwarded.ok()) return CallClient{.address = *forwarded, .via_edge = true};
  }
  return CallClient{.address = IpOfGrpcPeer(peer), .via_edge = false};
}

}  // namespace spine::gateway
