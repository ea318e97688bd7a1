// Client addresses for the gateway's rate limit: which address a request comes from, and the key
// it is limited under (API.md "Rate limit").
//
// IpAddress is a parsed IPv4 or IPv6 address; Cidr a range of them; TrustedProxies the ranges in
// SPINE_TRUSTED_PROXIES whose X-Forwarded-For is believed. ClientIp() picks the client of a
// request and ClientKey is what the limiter counts under (IPv4: the address, IPv6: its /64).
// All of these are immutable values: safe to share between threads once built.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace spine::gateway {

// An IPv4 or IPv6 address. An IPv4-mapped IPv6 address (::ffff:1.2.3.4) is the IPv4 address:
// a dual-stack socket reports IPv4 peers that way, and they must share one key.
class IpAddress {
 public:
  enum class Family : uint8_t { kV4, kV6 };

  // Parses "1.2.3.4", "::1", "2001:db8::1", "::ffff:1.2.3.4" (with inet_pton). A zone suffix
  // ("fe80::1%eth0", as Asio prints link-local peers) is dropped. No ports, no brackets.
  static absl::StatusOr<IpAddress> Parse(absl::string_view text);
  static IpAddress V4(const std::array<uint8_t, 4>& bytes);
  // A mapped IPv4 address given here becomes that IPv4 address, as in Parse().
  static IpAddress V6(const std::array<uint8_t, 16>& bytes);

  Family family() const { return family_; }
  // The 4 (IPv4) or 16 (IPv6) address bytes, network order.
  absl::Span<const uint8_t> bytes() const;
  // Canonical text form (inet_ntop): "1.2.3.4", "2001:db8::1".
  std::string ToString() const;

  friend bool operator==(const IpAddress& a, const IpAddress& b) {
    return a.family_ == b.family_ && a.bytes_ == b.bytes_;
  }
  friend bool operator!=(const IpAddress& a, const IpAddress& b) { return !(a == b); }

 private:
  IpAddress(Family family, const std::array<uint8_t, 16>& bytes) : family_(family), bytes_(bytes) {}

  Family family_;
  std::array<uint8_t, 16> bytes_;  // IPv4 uses the first 4, the rest are zero
};

// An address range: "10.0.0.0/8", "fd00::/8"; a bare address is a /32 or /128 range.
class Cidr {
 public:
  // Rejects a bad address, a prefix length out of range, and set host bits ("10.1.0.0/8"): in a
  // list of trusted proxies a range that is not what it says is more likely a typo than intent.
  // An IPv4 range in IPv4-mapped form needs a prefix of at least 96 ("::ffff:10.0.0.0/104").
  static absl::StatusOr<Cidr> Parse(absl::string_view text);

  // True when `address` is in the range. IPv4 ranges hold only IPv4 addresses (mapped ones
  // included, since IpAddress folds them to IPv4); IPv6 ranges only IPv6 ones.
  bool Contains(const IpAddress& address) const;

  const IpAddress& network() const { return network_; }
  int prefix_length() const { return prefix_length_; }
  // "10.0.0.0/8".
  std::string ToString() const;

 private:
  Cidr(IpAddress network, int prefix_length) : network_(network), prefix_length_(prefix_length) {}

  IpAddress network_;
  int prefix_length_;
};

// The proxies whose X-Forwarded-For the gateway believes. Empty (the default) trusts nobody.
class TrustedProxies {
 public:
  TrustedProxies() = default;
  explicit TrustedProxies(std::vector<Cidr> ranges) : ranges_(std::move(ranges)) {}

  // Parses a comma-separated list of ranges or addresses (the value of SPINE_TRUSTED_PROXIES);
  // spaces around entries and empty entries are ignored. A bad entry is InvalidArgument naming it.
  static absl::StatusOr<TrustedProxies> Parse(absl::string_view comma_separated);

  bool Contains(const IpAddress& address) const;
  bool empty() const { return ranges_.empty(); }
  const std::vector<Cidr>& ranges() const { return ranges_; }

 private:
  std::vector<Cidr> ranges_;
};

// The client of a request. `peer` is the socket's peer; `x_forwarded_for` the values of every
// X-Forwarded-For header in the order received (each a comma-separated list of hops).
//
// A peer that is not a trusted proxy is the client, whatever the header says: anyone can send
// one. Behind a trusted proxy, hops are read from the right (each proxy appends the address it
// saw) and trusted ones skipped; the first untrusted hop is the client. Everything left of it was
// written by the client itself and may be spoofed, so it is ignored. When every hop is trusted
// the leftmost is the client. A hop that does not parse (a port, "unknown", garbage) ends the walk
// and the last good address (or the peer) is the client, since nothing left of it can be trusted.
IpAddress ClientIp(const IpAddress& peer, absl::Span<const std::string> x_forwarded_for,
                   const TrustedProxies& trusted);

// What the rate limit counts under: an IPv4 address, or the /64 prefix of an IPv6 address (one
// IPv6 host usually holds a whole /64, so keying by address would let it pick fresh keys at will).
class ClientKey {
 public:
  static ClientKey For(const IpAddress& address);

  // "1.2.3.4" or "2001:db8:0:1::/64", for logs.
  std::string ToString() const;

  friend bool operator==(const ClientKey& a, const ClientKey& b) {
    return a.family_ == b.family_ && a.bits_ == b.bits_;
  }
  friend bool operator!=(const ClientKey& a, const ClientKey& b) { return !(a == b); }
  template <typename H>
  friend H AbslHashValue(H h, const ClientKey& key) {
    return H::combine(std::move(h), key.family_, key.bits_);
  }

 private:
  ClientKey(IpAddress::Family family, uint64_t bits) : family_(family), bits_(bits) {}

  IpAddress::Family family_;
  uint64_t bits_;  // IPv4: the address; IPv6: the first 64 bits; both as big-endian numbers
};

}  // namespace spine::gateway
