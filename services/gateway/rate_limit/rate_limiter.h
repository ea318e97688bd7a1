// RateLimiter: the gateway's per-client token buckets (API.md "Rate limit"), in bounded memory.
//
// Each client key (client_address.h) has a bucket of `requests_per_minute` tokens that refills
// continuously at `requests_per_minute` per 60 s; a request takes one token or is refused. Time
// comes from the injected Clock's MonotonicNow(), so tests drive it exactly.
//
// Memory is bounded whatever the number of distinct clients: the keys are split over `shards`
// tables of fixed capacity (together `max_clients`), each with its own mutex and a
// least-recently-used order. A full table drops its least recently used client to make room.
// That loses nothing when the dropped bucket had refilled to full (idle for a minute or more):
// a full bucket and no bucket behave the same. It only costs accuracy when every client in the
// shard was seen within the last minute, i.e. roughly more than `max_clients` distinct clients
// in one minute; then the dropped client, the one idle longest, later starts over with a full
// bucket. That can only favour that client, by at most one bucket (`requests_per_minute` requests)
// per eviction, and it cannot be used to escape the limit: a client that keeps sending stays at the
// recent end of the order and keeps its bucket; only one that stops long enough for a whole
// shard's worth of other clients to arrive is dropped. Refusing new clients instead would let a
// flood of addresses lock everyone else out, which is worse.
//
// The bound: MemoryBoundBytes(), allocated at construction and never grown, is 90 bytes per
// client at the defaults (65536 clients in 16 shards: 5 900 200 bytes, under 6 MiB) and at most
// about 115 bytes per client for other sizes (the hash index rounds up to a power of two).
//
// Thread-safe: Admit() may be called from any number of threads at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/core/clock.h"
#include "services/gateway/rate_limit/client_address.h"

namespace spine::gateway {

struct RateLimiterOptions {
  // Bucket size and refill per minute (SPINE_RATE_LIMIT_PER_MINUTE); 1..1 000 000.
  int64_t requests_per_minute = 100;
  // Most clients tracked at once, over all shards; at least `shards`, at most 2^28.
  int64_t max_clients = 65536;
  // Independently locked tables, so concurrent requests rarely wait on each other; 1..1024.
  int64_t shards = 16;
};

class RateLimiter {
 public:
  // The answer for one request.
  struct Decision {
    bool allowed = false;
    // Whole tokens left after this request (rounded down).
    int64_t remaining = 0;
    // When refused: seconds until one token is back (rounded up, at least 1). 0 when allowed.
    int64_t retry_after_seconds = 0;
    // Seconds until the bucket is full again (rounded up); 0 when it is full.
    int64_t reset_seconds = 0;
  };

  // Rejects options out of the ranges above. `clock` is borrowed and must outlive the limiter.
  static absl::StatusOr<std::unique_ptr<RateLimiter>> Create(const RateLimiterOptions& options,
                                                             const Clock& clock);
  ~RateLimiter();
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // Takes a token from `client`'s bucket if there is one, at the clock's current time.
  Decision Admit(const ClientKey& client);

  int64_t requests_per_minute() const { return requests_per_minute_; }
  // Clients tracked now; never more than capacity().
  size_t size() const;
  // Most clients tracked at once (= options.max_clients).
  size_t capacity() const;
  // Bytes held by the limiter's tables, counted from what they actually allocated. Everything is
  // allocated at construction and the tables never grow, so this does not change over time.
  size_t MemoryBoundBytes() const;

 private:
  class Shard;

  RateLimiter(const RateLimiterOptions& options, const Clock& clock);
  Shard& ShardFor(const ClientKey& client) const;

  const int64_t requests_per_minute_;
  const Clock& clock_;
  const absl::Time origin_;  // bucket times are nanoseconds since this, so they fit in int64
  std::vector<std::unique_ptr<Shard>> shards_;
};

// The response headers of API.md for a request that went through the limiter: RateLimit-Policy
// and RateLimit always, Retry-After when it was refused. Name/value pairs, ready to append to the
// gateway's HttpHeaders.
std::vector<std::pair<std::string, std::string>> RateLimitHeaders(
    int64_t requests_per_minute, const RateLimiter::Decision& decision);

}  // namespace spine::gateway
