// EdgeIdentity: how the gateway's HTTP edge tells its own AuthService who the client is.
//
// HTTP requests reach AuthService through the transcoder, over gRPC, so the gRPC peer is the
// gateway itself. The edge therefore sends the client's address (as its rate limit saw it, after
// trusted proxies) in kClientIpMetadata, together with a random key made at start in
// kEdgeKeyMetadata; AuthService believes the address only when the key matches. The key never
// leaves the process except on the gateway's calls to its own gRPC port, so a direct gRPC caller
// cannot present it and is known by its own peer address. Thread-safe (immutable).
#pragma once

#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "services/gateway/rate_limit/client_address.h"

namespace spine::gateway {

inline constexpr char kClientIpMetadata[] = "x-spine-client-ip";
inline constexpr char kEdgeKeyMetadata[] = "x-spine-edge-key";

// Who called AuthService, as far as the gateway can tell.
struct CallClient {
  std::optional<IpAddress> address;  // nullopt: not an IP peer (unix socket, in-process)
  bool via_edge = false;             // forwarded by this gateway's HTTP edge
};

class EdgeIdentity {
 public:
  // A fresh random key (256 bits).
  static EdgeIdentity Generate();
  explicit EdgeIdentity(std::string key) : key_(std::move(key)) {}

  const std::string& key() const { return key_; }

  // The client of a call from its gRPC `peer` ("ipv4:1.2.3.4:5678", "ipv6:[::1]:5678") and the
  // two metadata values (empty when absent): the forwarded address when `edge_key` is this
  // process's key (compared in constant time) and the address parses, else the peer.
  CallClient ClientOf(absl::string_view peer, absl::string_view forwarded_ip,
                      absl::string_view edge_key) const;

 private:
  std::string key_;
};

// The address in a gRPC peer string; nullopt for a non-IP peer.
std::optional<IpAddress> IpOfGrpcPeer(absl::string_view peer);

}  // namespace spine::gateway
