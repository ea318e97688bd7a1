#include "services/gateway/rate_limit/client_address.h"

#include <arpa/inet.h>

#include <algorithm>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace spine::gateway {
namespace {

// Longest text quoted back in an error: the text may come from a client's header.
constexpr size_t kMaxQuotedChars = 64;

std::string Quote(absl::string_view text) {
  return absl::StrCat("\"", absl::CHexEscape(text.substr(0, kMaxQuotedChars)),
                      text.size() > kMaxQuotedChars ? "...\"" : "\"");
}

bool IsV4Mapped(const std::array<uint8_t, 16>& bytes) {
  return std::all_of(bytes.begin(), bytes.begin() + 10, [](uint8_t b) { return b == 0; }) &&
         bytes[10] == 0xff && bytes[11] == 0xff;
}

// The first `count` (at most 8) bytes as a big-endian number.
uint64_t BigEndian(absl::Span<const uint8_t> bytes, size_t count) {
  uint64_t value = 0;
  for (size_t i = 0; i < count; ++i) value = (value << 8) | bytes[i];
  return value;
}

// True when any bit after the first `prefix_length` is one.
bool HostBitsSet(absl::Span<const uint8_t> bytes, int prefix_length) {
  for (size_t bit = prefix_length; bit < bytes.size() * 8; ++bit) {
    if ((bytes[bit / 8] >> (7 - bit % 8)) & 1) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<IpAddress> IpAddress::Parse(absl::string_view text) {
  absl::string_view address = text;
  // A zone only qualifies a link-local IPv6 address on this host; it is not part of who the
  // client is. IPv4 text has no ':' and keeps its '%' so that it fails below.
  if (const size_t percent = address.find('%');
      percent != absl::string_view::npos &&
      address.substr(0, percent).find(':') != absl::string_view::npos) {
    address = address.substr(0, percent);
  }
  // inet_pton needs a terminated string; anything longer than the longest address is not one.
  if (!address.empty() && address.size() <= INET6_ADDRSTRLEN) {
    const std::string terminated(address);
    std::array<uint8_t, 16> bytes{};
    if (inet_pton(AF_INET, terminated.c_str(), bytes.data()) == 1) {
      return IpAddress(Family::kV4, bytes);
    }
    if (inet_pton(AF_INET6, terminated.c_str(), bytes.data()) == 1) return V6(bytes);
  }
  return absl::InvalidArgumentError(absl::StrCat(Quote(text), " is not an IPv4 or IPv6 address"));
}

IpAddress IpAddress::V4(const std::array<uint8_t, 4>& bytes) {
  std::array<uint8_t, 16> padded{};
  std::copy(bytes.begin(), bytes.end(), padded.begin());
  return IpAddress(Family::kV4, padded);
}

IpAddress IpAddress::V6(const std::array<uint8_t, 16>& bytes) {
  if (IsV4Mapped(bytes)) return V4({bytes[12], bytes[13], bytes[14], bytes[15]});
  return IpAddress(Family::kV6, bytes);
}

absl::Span<const uint8_t> IpAddress::bytes() const {
  return absl::MakeConstSpan(bytes_.data(), family_ == Family::kV4 ? 4 : 16);
}

std::string IpAddress::ToString() const {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(family_ == Family::kV4 ? AF_INET : AF_INET6, bytes_.data(), text, sizeof(text));
  return text;
}

absl::StatusOr<Cidr> Cidr::Parse(absl::string_view text) {
  const size_t slash = text.find('/');
  const absl::string_view address_text = text.substr(0, slash);
  absl::StatusOr<IpAddress> address = IpAddress::Parse(address_text);
  if (!address.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Quote(text), ": ", Quote(address_text), " is not an IPv4 or IPv6 address"));
  }
  // Written in IPv6 form but folded to IPv4: the prefix length counts the 96 mapping bits too.
  const bool mapped = address->family() == IpAddress::Family::kV4 &&
                      address_text.find(':') != absl::string_view::npos;
  const int max_length = address->family() == IpAddress::Family::kV4 ? 32 : 128;
  int length = max_length;
  if (slash != absl::string_view::npos) {
    const absl::string_view length_text = text.substr(slash + 1);
    const int written_max = mapped ? 128 : max_length;
    const int written_min = mapped ? 96 : 0;
    // SimpleAtoi alone would also take " 8" and "+8".
    if (length_text.empty() || length_text.size() > 3 ||
        !std::all_of(length_text.begin(), length_text.end(), absl::ascii_isdigit) ||
        !absl::SimpleAtoi(length_text, &length) || length < written_min || length > written_max) {
      return absl::InvalidArgumentError(absl::StrCat(Quote(text), ": prefix length ",
                                                     Quote(length_text), " is not in ", written_min,
                                                     "..", written_max));
    }
    if (mapped) length -= 96;
  }
  if (HostBitsSet(address->bytes(), length)) {
    return absl::InvalidArgumentError(
        absl::StrCat(Quote(text), ": bits are set past the /", length, " prefix"));
  }
  return Cidr(*address, length);
}

bool Cidr::Contains(const IpAddress& address) const {
  if (address.family() != network_.family()) return false;
  const absl::Span<const uint8_t> a = address.bytes();
  const absl::Span<const uint8_t> n = network_.bytes();
  const size_t full_bytes = prefix_length_ / 8;
  if (!std::equal(a.begin(), a.begin() + full_bytes, n.begin())) return false;
  const int rest = prefix_length_ % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[full_bytes] & mask) == (n[full_bytes] & mask);
}

std::string Cidr::ToString() const {
  return absl::StrCat(network_.ToString(), "/", prefix_length_);
}

absl::StatusOr<TrustedProxies> TrustedProxies::Parse(absl::string_view comma_separated) {
  std::vector<Cidr> ranges;
  int entry = 0;
  for (absl::string_view text : absl::StrSplit(comma_separated, ',')) {
    ++entry;
    text = absl::StripAsciiWhitespace(text);
    if (text.empty()) continue;
    absl::StatusOr<Cidr> cidr = Cidr::Parse(text);
    if (!cidr.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("trusted proxies, entry ", entry, ": ", cidr.status().message()));
    }
    ranges.push_back(*cidr);
  }
  return TrustedProxies(std::move(ranges));
}

bool TrustedProxies::Contains(const IpAddress& address) const {
  return std::any_of(ranges_.begin(), ranges_.end(),
                     [&](const Cidr& range) { return range.Contains(address); });
}

IpAddress ClientIp(const IpAddress& peer, absl::Span<const std::string> x_forwarded_for,
                   const TrustedProxies& trusted) {
  IpAddress client = peer;
  if (!trusted.Contains(client)) return client;
  // Right to left over the headers, and over the hops within each, without collecting them: a
  // client can send thousands of hops and the answer is usually the last one or two.
  for (auto value = x_forwarded_for.rbegin(); value != x_forwarded_for.rend(); ++value) {
    absl::string_view rest = *value;
    while (true) {
      const size_t comma = rest.rfind(',');
      const absl::string_view hop = absl::StripAsciiWhitespace(
          comma == absl::string_view::npos ? rest : rest.substr(comma + 1));
      if (!hop.empty()) {  // "a, , b" and trailing commas carry no address; skip them
        absl::StatusOr<IpAddress> address = IpAddress::Parse(hop);
        if (!address.ok()) return client;
        client = *address;
        if (!trusted.Contains(client)) return client;
      }
      if (comma == absl::string_view::npos) break;
      rest = rest.substr(0, comma);
    }
  }
  return client;
}

ClientKey ClientKey::For(const IpAddress& address) {
  if (address.family() == IpAddress::Family::kV4) {
    return ClientKey(IpAddress::Family::kV4, BigEndian(address.bytes(), 4));
  }
  return ClientKey(IpAddress::Family::kV6, BigEndian(address.bytes(), 8));
}

std::string ClientKey::ToString() const {
  if (family_ == IpAddress::Family::kV4) {
    return IpAddress::V4({static_cast<uint8_t>(bits_ >> 24), static_cast<uint8_t>(bits_ >> 16),
                          static_cast<uint8_t>(bits_ >> 8), static_cast<uint8_t>(bits_)})
        .ToString();
  }
  std::array<uint8_t, 16> bytes{};
  for (size_t i = 0; i < 8; ++i) bytes[i] = static_cast<uint8_t>(bits_ >> (56 - 8 * i));
  return absl::StrCat(IpAddress::V6(bytes).ToString(), "/64");
}

}  // namespace spine::gateway
