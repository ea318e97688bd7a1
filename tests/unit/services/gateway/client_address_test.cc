#include "services/gateway/rate_limit/client_address.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "services/gateway/auth/edge_identity.h"

namespace spine::gateway {
namespace {

IpAddress Ip(const std::string& text) {
  absl::StatusOr<IpAddress> address = IpAddress::Parse(text);
  INFO(text);
  REQUIRE(address.ok());
  return *address;
}

Cidr Range(const std::string& text) {
  absl::StatusOr<Cidr> cidr = Cidr::Parse(text);
  INFO(text);
  REQUIRE(cidr.ok());
  return *cidr;
}

TrustedProxies Trust(const std::string& list) {
  absl::StatusOr<TrustedProxies> trusted = TrustedProxies::Parse(list);
  INFO(list);
  REQUIRE(trusted.ok());
  return *trusted;
}

TEST_CASE("IPv4 and IPv6 addresses parse to their canonical form") {
  CHECK(Ip("1.2.3.4").family() == IpAddress::Family::kV4);
  CHECK(Ip("1.2.3.4").ToString() == "1.2.3.4");
  CHECK(Ip("1.2.3.4").bytes().size() == 4);
  CHECK(Ip("::1").family() == IpAddress::Family::kV6);
  CHECK(Ip("::1").ToString() == "::1");
  CHECK(Ip("2001:DB8:0:0::1").ToString() == "2001:db8::1");
  CHECK(Ip("2001:db8::1").bytes().size() == 16);
}

TEST_CASE("an IPv4-mapped IPv6 address is the IPv4 address") {
  CHECK(Ip("::ffff:1.2.3.4") == Ip("1.2.3.4"));
  CHECK(Ip("::ffff:0102:0304") == Ip("1.2.3.4"));
  CHECK(Ip("::ffff:1.2.3.4").family() == IpAddress::Family::kV4);
  CHECK(ClientKey::For(Ip("::ffff:1.2.3.4")) == ClientKey::For(Ip("1.2.3.4")));
  // Only the ::ffff:0:0/96 prefix maps; the deprecated IPv4-compatible form stays IPv6.
  CHECK(Ip("::1.2.3.4").family() == IpAddress::Family::kV6);
}

TEST_CASE("a zone on a link-local IPv6 peer is dropped") {
  CHECK(Ip("fe80::1%eth0") == Ip("fe80::1"));
}

TEST_CASE("text that is not a bare address is rejected") {
  const std::string text =
      GENERATE("", "1.2.3", "256.1.1.1", "1.2.3.4:80", "[::1]", "[::1]:80", " 1.2.3.4", "1.2.3.4 ",
               "1.2.3.4%eth0", "unknown", "::1/128", "2001:db8::1::2", "::ffff:1.2.3.4.5");
  INFO(text);
  const absl::StatusOr<IpAddress> address = IpAddress::Parse(text);
  CHECK(address.status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("a CIDR range contains exactly the addresses under its prefix") {
  const Cidr ten = Range("10.0.0.0/8");
  CHECK(ten.Contains(Ip("10.0.0.0")));
  CHECK(ten.Contains(Ip("10.255.255.255")));
  CHECK_FALSE(ten.Contains(Ip("11.0.0.0")));
  CHECK_FALSE(ten.Contains(Ip("9.255.255.255")));

  const Cidr half = Range("192.168.1.128/25");  // a prefix that ends inside a byte
  CHECK(half.Contains(Ip("192.168.1.128")));
  CHECK(half.Contains(Ip("192.168.1.255")));
  CHECK_FALSE(half.Contains(Ip("192.168.1.127")));

  const Cidr ula = Range("fd00::/8");
  CHECK(ula.Contains(Ip("fd12:3456::1")));
  CHECK_FALSE(ula.Contains(Ip("fe80::1")));
  CHECK_FALSE(ula.Contains(Ip("10.0.0.1")));

  const Cidr any_v4 = Range("0.0.0.0/0");
  CHECK(any_v4.Contains(Ip("203.0.113.9")));
  CHECK_FALSE(any_v4.Contains(Ip("::1")));
  CHECK(Range("::/0").Contains(Ip("2001:db8::1")));
  CHECK_FALSE(Range("::/0").Contains(Ip("1.2.3.4")));
}

TEST_CASE("a bare address is a range of one") {
  CHECK(Range("10.0.0.7").prefix_length() == 32);
  CHECK(Range("10.0.0.7").Contains(Ip("10.0.0.7")));
  CHECK_FALSE(Range("10.0.0.7").Contains(Ip("10.0.0.8")));
  CHECK(Range("2001:db8::7").prefix_length() == 128);
  CHECK(Range("2001:db8::7").ToString() == "2001:db8::7/128");
  CHECK_FALSE(Range("2001:db8::7").Contains(Ip("2001:db8::8")));
}

TEST_CASE("an IPv4 range written in mapped form is the IPv4 range") {
  const Cidr mapped = Range("::ffff:10.0.0.0/104");
  CHECK(mapped.ToString() == "10.0.0.0/8");
  CHECK(mapped.Contains(Ip("10.1.2.3")));
  CHECK(Range("10.0.0.0/8").Contains(Ip("::ffff:10.1.2.3")));
}

TEST_CASE("a bad CIDR is rejected with a message naming it") {
  const std::string text = GENERATE("10.0.0.0/33", "fd00::/129", "10.0.0.0/", "10.0.0.0/8x",
                                    "10.0.0.0/+8", "10.0.0.0/ 8", "10.0.0.0/-1", "10.1.0.0/8",
                                    "fd00::1/8", "nonsense/8", "10.0.0/8", "::ffff:10.0.0.0/8", "");
  INFO(text);
  const absl::StatusOr<Cidr> cidr = Cidr::Parse(text);
  REQUIRE(cidr.status().code() == absl::StatusCode::kInvalidArgument);
  INFO(cidr.status().message());
  CHECK(absl::StrContains(cidr.status().message(), "\"" + text + "\""));
}

TEST_CASE("a CIDR error says what is wrong") {
  CHECK(Cidr::Parse("10.0.0.0/33").status().message() ==
        "\"10.0.0.0/33\": prefix length \"33\" is not in 0..32");
  CHECK(Cidr::Parse("10.1.0.0/8").status().message() ==
        "\"10.1.0.0/8\": bits are set past the /8 prefix");
  CHECK(Cidr::Parse("nonsense/8").status().message() ==
        "\"nonsense/8\": \"nonsense\" is not an IPv4 or IPv6 address");
}

TEST_CASE("trusted proxies parse from a comma-separated list") {
  const TrustedProxies trusted = Trust(" 10.0.0.0/8, fd00::/8 ,192.168.1.1,");
  REQUIRE(trusted.ranges().size() == 3);
  CHECK(trusted.ranges()[2].ToString() == "192.168.1.1/32");
  CHECK(trusted.Contains(Ip("10.9.9.9")));
  CHECK(trusted.Contains(Ip("fd00::5")));
  CHECK(trusted.Contains(Ip("192.168.1.1")));
  CHECK_FALSE(trusted.Contains(Ip("192.168.1.2")));
  CHECK(Trust("").empty());
  CHECK_FALSE(TrustedProxies().Contains(Ip("127.0.0.1")));
}

TEST_CASE("a bad trusted proxy entry is rejected naming the entry") {
  const absl::StatusOr<TrustedProxies> trusted =
      TrustedProxies::Parse("10.0.0.0/8, 10.0.0.0/33, fd00::/8");
  REQUIRE(trusted.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(trusted.status().message() ==
        "trusted proxies, entry 2: \"10.0.0.0/33\": prefix length \"33\" is not in 0..32");
}

TEST_CASE("X-Forwarded-For is ignored when the peer is not a trusted proxy") {
  const TrustedProxies trusted = Trust("10.0.0.0/8");
  const std::vector<std::string> xff = {"203.0.113.7"};
  CHECK(ClientIp(Ip("198.51.100.1"), xff, trusted) == Ip("198.51.100.1"));
  CHECK(ClientIp(Ip("198.51.100.1"), xff, TrustedProxies()) == Ip("198.51.100.1"));
}

TEST_CASE("a trusted peer without X-Forwarded-For is the client") {
  CHECK(ClientIp(Ip("10.0.0.1"), {}, Trust("10.0.0.0/8")) == Ip("10.0.0.1"));
}

TEST_CASE("behind a trusted proxy the rightmost untrusted hop is the client") {
  const TrustedProxies trusted = Trust("10.0.0.0/8");
  // The client claims to be 6.6.6.6 and 1.1.1.1; the proxies at 10.0.0.2 and the peer saw
  // 203.0.113.7 connect.
  const std::vector<std::string> xff = {"6.6.6.6, 1.1.1.1, 203.0.113.7, 10.0.0.2"};
  CHECK(ClientIp(Ip("10.0.0.1"), xff, trusted) == Ip("203.0.113.7"));
}

TEST_CASE("spoofed leftmost entries cannot choose the client") {
  const TrustedProxies trusted = Trust("10.0.0.0/8");
  // A client that writes a trusted address on the left still stops the walk at itself.
  const std::vector<std::string> xff = {"10.0.0.99, 203.0.113.7"};
  CHECK(ClientIp(Ip("10.0.0.1"), xff, trusted) == Ip("203.0.113.7"));
}

TEST_CASE("several X-Forwarded-For headers are read as one list in order") {
  const TrustedProxies trusted = Trust("10.0.0.0/8");
  const std::vector<std::string> xff = {"6.6.6.6, 203.0.113.7", "10.0.0.3,10.0.0.2"};
  CHECK(ClientIp(Ip("10.0.0.1"), xff, trusted) == Ip("203.0.113.7"));
}

TEST_CASE("when every hop is trusted the leftmost is the client") {
  const TrustedProxies trusted = Trust("10.0.0.0/8");
  const std::vector<std::string> xff = {"10.0.0.5, 10.0.0.4", "10.0.0.3"};
  CHECK(ClientIp(Ip("10.0.0.1"), xff, trusted) == Ip("10.0.0.5"));
}

TEST_CASE("a malformed hop ends the walk at the last good address") {
  const TrustedProxies trusted = Trust("10.0.0.0/8");
  const std::vector<std::string> behind_one = {"203.0.113.7, garbage, 10.0.0.2"};
  CHECK(ClientIp(Ip("10.0.0.1"), behind_one, trusted) == Ip("10.0.0.2"));
  const std::vector<std::string> with_port = {"203.0.113.7:4711"};
  CHECK(ClientIp(Ip("10.0.0.1"), with_port, trusted) == Ip("10.0.0.1"));
}

TEST_CASE("empty X-Forwarded-For entries are skipped") {
  const TrustedProxies trusted = Trust("10.0.0.0/8");
  const std::vector<std::string> xff = {"203.0.113.7, ,", ""};
  CHECK(ClientIp(Ip("10.0.0.1"), xff, trusted) == Ip("203.0.113.7"));
}

TEST_CASE("IPv6 and IPv4-mapped proxies and hops are honoured") {
  const TrustedProxies trusted = Trust("fd00::/8, 10.0.0.0/8");
  const std::vector<std::string> xff = {"2001:db8::7, ::ffff:10.0.0.2"};
  CHECK(ClientIp(Ip("fd00::1"), xff, trusted) == Ip("2001:db8::7"));
  CHECK(ClientIp(Ip("::ffff:10.0.0.1"), xff, trusted) == Ip("2001:db8::7"));
}

TEST_CASE("IPv6 clients in one /64 share a key and another /64 does not") {
  const ClientKey key = ClientKey::For(Ip("2001:db8:1:2::1"));
  CHECK(ClientKey::For(Ip("2001:db8:1:2:ffff:ffff:ffff:ffff")) == key);
  CHECK(ClientKey::For(Ip("2001:db8:1:3::1")) != key);
  CHECK(key.ToString() == "2001:db8:1:2::/64");
}

TEST_CASE("IPv4 clients are keyed by their full address") {
  CHECK(ClientKey::For(Ip("1.2.3.4")) != ClientKey::For(Ip("1.2.3.5")));
  CHECK(ClientKey::For(Ip("1.2.3.4")).ToString() == "1.2.3.4");
  // The IPv4 key space is apart from the IPv6 one, even where the bits would match.
  CHECK(ClientKey::For(Ip("0.0.0.0")) != ClientKey::For(Ip("::")));
}

TEST_CASE("AuthService believes a forwarded client only with the edge's key") {
  const EdgeIdentity edge("k3y-of-this-process");
  // The HTTP edge's call: the client it forwards.
  CallClient client = edge.ClientOf("ipv4:127.0.0.1:40000", "203.0.113.9", "k3y-of-this-process");
  CHECK(client.via_edge);
  CHECK(client.address == Ip("203.0.113.9"));
  // A direct caller that claims to be someone else, without or with a wrong key: its own peer.
  for (const char* key : {"", "k3y-of-this-procesX", "k3y"}) {
    client = edge.ClientOf("ipv4:198.51.100.4:5555", "203.0.113.9", key);
    CHECK_FALSE(client.via_edge);
    CHECK(client.address == Ip("198.51.100.4"));
  }
  CHECK(edge.ClientOf("ipv6:[2001:db8::7]:5555", "", "").address == Ip("2001:db8::7"));
  CHECK_FALSE(edge.ClientOf("unix:/tmp/socket", "", "").address.has_value());
  CHECK(EdgeIdentity::Generate().key() != EdgeIdentity::Generate().key());
  CHECK(EdgeIdentity::Generate().key().size() == 64);
}

}  // namespace
}  // namespace spine::gateway
