#include "services/gateway/rate_limit/rate_limiter.h"

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "libs/core/clock.h"
#include "services/gateway/rate_limit/client_address.h"

namespace spine::gateway {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

ClientKey Key(const std::string& address) {
  absl::StatusOr<IpAddress> parsed = IpAddress::Parse(address);
  INFO(address);
  REQUIRE(parsed.ok());
  return ClientKey::For(*parsed);
}

std::unique_ptr<RateLimiter> MakeLimiter(const Clock& clock, RateLimiterOptions options = {}) {
  absl::StatusOr<std::unique_ptr<RateLimiter>> limiter = RateLimiter::Create(options, clock);
  REQUIRE(limiter.ok());
  return std::move(*limiter);
}

// Admits `count` requests of `client` at the current time; returns how many were allowed.
int AdmitMany(RateLimiter& limiter, const ClientKey& client, int count) {
  int allowed = 0;
  for (int i = 0; i < count; ++i) allowed += limiter.Admit(client).allowed ? 1 : 0;
  return allowed;
}

TEST_CASE("a client gets 100 requests, then the 101st is refused with Retry-After") {
  FakeClock clock;
  auto limiter = MakeLimiter(clock);
  const ClientKey client = Key("203.0.113.7");

  const RateLimiter::Decision first = limiter->Admit(client);
  CHECK(first.allowed);
  CHECK(first.remaining == 99);
  CHECK(first.retry_after_seconds == 0);
  CHECK(first.reset_seconds == 1);  // one token is back after 0.6 s
  CHECK(RateLimitHeaders(100, first) == Headers{{"RateLimit-Policy", "\"default\";q=100;w=60"},
                                                {"RateLimit", "\"default\";r=99;t=1"}});

  CHECK(AdmitMany(*limiter, client, 98) == 98);
  const RateLimiter::Decision last = limiter->Admit(client);
  CHECK(last.allowed);
  CHECK(last.remaining == 0);
  CHECK(last.reset_seconds == 60);

  const RateLimiter::Decision refused = limiter->Admit(client);
  CHECK_FALSE(refused.allowed);
  CHECK(refused.remaining == 0);
  CHECK(refused.retry_after_seconds == 1);  // 0.6 s, rounded up
  CHECK(refused.reset_seconds == 60);
  CHECK(RateLimitHeaders(100, refused) == Headers{{"RateLimit-Policy", "\"default\";q=100;w=60"},
                                                  {"RateLimit", "\"default\";r=0;t=60"},
                                                  {"Retry-After", "1"}});
}

TEST_CASE("a refused client gets exactly one more request 0.6 s later") {
  FakeClock clock;
  auto limiter = MakeLimiter(clock);
  const ClientKey client = Key("203.0.113.7");
  REQUIRE(AdmitMany(*limiter, client, 100) == 100);
  REQUIRE_FALSE(limiter->Admit(client).allowed);

  clock.Advance(absl::Milliseconds(599));
  CHECK_FALSE(limiter->Admit(client).allowed);
  clock.Advance(absl::Milliseconds(1));
  const RateLimiter::Decision again = limiter->Admit(client);
  CHECK(again.allowed);
  CHECK(again.remaining == 0);
  CHECK_FALSE(limiter->Admit(client).allowed);
}

TEST_CASE("an idle client's bucket is full again after a minute") {
  FakeClock clock;
  auto limiter = MakeLimiter(clock);
  const ClientKey client = Key("203.0.113.7");
  REQUIRE(AdmitMany(*limiter, client, 100) == 100);

  clock.Advance(absl::Seconds(30));
  const RateLimiter::Decision half = limiter->Admit(client);
  CHECK(half.remaining == 49);  // 50 back, one taken
  CHECK(half.reset_seconds == 31);

  clock.Advance(absl::Hours(24));  // a long absence refills to the cap, not beyond
  CHECK(limiter->Admit(client).remaining == 99);
  CHECK(AdmitMany(*limiter, client, 100) == 99);
}

TEST_CASE("a rate that does not divide a minute refills exactly") {
  FakeClock clock;
  auto limiter = MakeLimiter(clock, {.requests_per_minute = 7, .max_clients = 16, .shards = 1});
  const ClientKey client = Key("203.0.113.7");
  REQUIRE(AdmitMany(*limiter, client, 7) == 7);
  const RateLimiter::Decision refused = limiter->Admit(client);
  CHECK_FALSE(refused.allowed);
  CHECK(refused.retry_after_seconds == 9);  // 60/7 = 8.57 s
  CHECK(RateLimitHeaders(7, refused)[0].second == "\"default\";q=7;w=60");

  // One token takes 60e9/7 = 8 571 428 571.43 ns.
  clock.Advance(absl::Nanoseconds(8'571'428'571));
  CHECK_FALSE(limiter->Admit(client).allowed);
  clock.Advance(absl::Nanoseconds(1));
  CHECK(limiter->Admit(client).allowed);
}

TEST_CASE("distinct clients do not share buckets") {
  FakeClock clock;
  auto limiter = MakeLimiter(clock);
  REQUIRE(AdmitMany(*limiter, Key("203.0.113.7"), 101) == 100);
  CHECK(AdmitMany(*limiter, Key("203.0.113.8"), 101) == 100);
  CHECK(limiter->Admit(Key("2001:db8::1")).remaining == 99);
  CHECK(limiter->size() == 3);
}

TEST_CASE("IPv6 addresses in one /64 share a bucket and another /64 does not") {
  FakeClock clock;
  auto limiter = MakeLimiter(clock);
  REQUIRE(AdmitMany(*limiter, Key("2001:db8:1:2::1"), 60) == 60);
  CHECK(AdmitMany(*limiter, Key("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), 50) == 40);
  CHECK(limiter->Admit(Key("2001:db8:1:3::1")).remaining == 99);
}

TEST_CASE("an IPv4-mapped peer shares the IPv4 client's bucket") {
  FakeClock clock;
  auto limiter = MakeLimiter(clock);
  REQUIRE(AdmitMany(*limiter, Key("203.0.113.7"), 100) == 100);
  CHECK_FALSE(limiter->Admit(Key("::ffff:203.0.113.7")).allowed);
}

TEST_CASE("rate limiter options out of range are rejected") {
  FakeClock clock;
  const RateLimiterOptions bad =
      GENERATE(RateLimiterOptions{.requests_per_minute = 0},
               RateLimiterOptions{.requests_per_minute = 1'000'001},
               RateLimiterOptions{.shards = 0}, RateLimiterOptions{.max_clients = 8, .shards = 16},
               RateLimiterOptions{.max_clients = int64_t{1} << 29});
  CHECK(RateLimiter::Create(bad, clock).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("a full table drops its least recently used client") {
  FakeClock clock;
  auto limiter = MakeLimiter(clock, {.max_clients = 2, .shards = 1});
  const ClientKey a = Key("198.51.100.1");
  const ClientKey b = Key("198.51.100.2");
  const ClientKey c = Key("198.51.100.3");
  REQUIRE(AdmitMany(*limiter, a, 100) == 100);
  REQUIRE(limiter->Admit(b).allowed);
  REQUIRE_FALSE(limiter->Admit(a).allowed);  // a is now the most recent

  REQUIRE(limiter->Admit(c).allowed);  // evicts b, not a
  CHECK(limiter->size() == 2);
  CHECK_FALSE(limiter->Admit(a).allowed);
  CHECK(limiter->Admit(b).remaining == 99);  // b starts over (evicts c)
}

TEST_CASE("the table never outgrows its capacity under a flood of a million distinct clients") {
  FakeClock clock;
  auto limiter =
      MakeLimiter(clock, {.requests_per_minute = 100, .max_clients = 65536, .shards = 16});
  REQUIRE(limiter->capacity() == 65536);
  const size_t memory_before = limiter->MemoryBoundBytes();
  // The bound stated in rate_limiter.h: under 6 MiB for 65536 clients.
  CHECK(memory_before < size_t{6} << 20);

  // A busy client keeps sending throughout; it must stay limited: exactly its bucket plus one
  // token per 0.6 s of the 6 s the flood lasts, at every 10th request of the flood.
  const ClientKey busy = Key("198.51.100.1");
  constexpr int kFlood = 1'000'000;
  int busy_allowed = 0;
  int flood_allowed = 0;
  size_t largest = 0;
  for (int i = 0; i < kFlood; ++i) {
    if (i % 10 == 0) busy_allowed += limiter->Admit(busy).allowed ? 1 : 0;
    // Half IPv4 addresses, half IPv6 addresses in distinct /64s.
    const auto b1 = static_cast<uint8_t>(i >> 16);
    const auto b2 = static_cast<uint8_t>(i >> 8);
    const auto b3 = static_cast<uint8_t>(i);
    const IpAddress flooder =
        i % 2 == 0 ? IpAddress::V4({11, b1, b2, b3})
                   : IpAddress::V6({0x20, 0x01, 0x0d, 0xb8, b1, b2, b3, 0, 0, 0, 0, 0, 0, 0, 0, 1});
    flood_allowed += limiter->Admit(ClientKey::For(flooder)).allowed ? 1 : 0;
    largest = std::max(largest, limiter->size());
    clock.Advance(absl::Microseconds(6));
  }
  busy_allowed += limiter->Admit(busy).allowed ? 1 : 0;  // at exactly 6 s

  INFO("memory bound for " << limiter->capacity() << " clients: " << memory_before << " bytes");
  CHECK(flood_allowed == kFlood);  // each flooder is new, with a full bucket
  CHECK(largest == limiter->capacity());
  CHECK(busy_allowed == 110);
  CHECK(limiter->MemoryBoundBytes() == memory_before);
}

TEST_CASE("concurrent requests of one client are admitted exactly up to the bucket") {
  FakeClock clock;
  auto limiter = MakeLimiter(clock);
  const ClientKey client = Key("203.0.113.7");
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  threads.reserve(8);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] { allowed += AdmitMany(*limiter, client, 50); });
  }
  for (std::thread& thread : threads) thread.join();
  CHECK(allowed == 100);
}

}  // namespace
}  // namespace spine::gateway
