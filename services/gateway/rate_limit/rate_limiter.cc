#include "services/gateway/rate_limit/rate_limiter.h"

#include <algorithm>
#include <limits>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/memory/memory.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace spine::gateway {
namespace {

// Token amounts are counted in units of 1/60e9 token, so that a bucket refilling `rate` tokens per
// minute gains exactly `rate` units per nanosecond: all arithmetic is exact integers, and a full
// bucket (rate * 60e9 units, at most 6e16 for the largest rate) fits in int64 with room to spare.
constexpr int64_t kNanosPerMinute = int64_t{60} * 1'000'000'000;
constexpr int64_t kUnitsPerToken = kNanosPerMinute;
constexpr int64_t kNanosPerSecond = 1'000'000'000;
constexpr int64_t kMaxRequestsPerMinute = 1'000'000;
constexpr int64_t kMaxShards = 1024;
constexpr int64_t kMaxClients = int64_t{1} << 28;

constexpr int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

// One independently locked table of buckets: a fixed array of nodes in least-recently-used
// order (a doubly linked list through array indices) and a hash index from key to node.
class RateLimiter::Shard {
 public:
  Shard(size_t capacity, int64_t requests_per_minute)
      : capacity_(capacity),
        full_units_(requests_per_minute * kUnitsPerToken),
        units_per_nano_(requests_per_minute) {
    absl::MutexLock lock(&mu_);
    nodes_.reserve(capacity_);
    // Erasing leaves tombstones in an Abseil table; when they use up its free slots it rehashes
    // in place if it is at most 25/32 full and otherwise doubles. Reserving 32/25 of the
    // capacity keeps it on the in-place side, so the table never grows past what it holds now.
    index_.reserve(capacity_ * 32 / 25 + 1);
  }

  Decision Admit(const ClientKey& client, int64_t now_nanos) {
    absl::MutexLock lock(&mu_);
    Node& node = nodes_[Touch(client, now_nanos)];
    // Refill for the time since the bucket was last seen. Capping the interval at a minute (a
    // whole bucket) keeps the product in range; a clock read that lost a race to another thread
    // counts as no time.
    const int64_t elapsed = std::clamp<int64_t>(now_nanos - node.last_nanos, 0, kNanosPerMinute);
    node.units = std::min(full_units_, node.units + elapsed * units_per_nano_);
    node.last_nanos = std::max(node.last_nanos, now_nanos);

    Decision decision;
    decision.allowed = node.units >= kUnitsPerToken;
    if (decision.allowed) node.units -= kUnitsPerToken;
    decision.remaining = node.units / kUnitsPerToken;
    decision.reset_seconds =
        CeilDiv(CeilDiv(full_units_ - node.units, units_per_nano_), kNanosPerSecond);
    if (!decision.allowed) {
      decision.retry_after_seconds = std::max<int64_t>(
          1, CeilDiv(CeilDiv(kUnitsPerToken - node.units, units_per_nano_), kNanosPerSecond));
    }
    return decision;
  }

  size_t size() const {
    absl::MutexLock lock(&mu_);
    return index_.size();
  }

  size_t capacity() const { return capacity_; }

  size_t MemoryBytes() const {
    absl::MutexLock lock(&mu_);
    using Slot = decltype(index_)::value_type;
    // A flat_hash_map holds capacity() slots plus one control byte each and a group's worth of
    // cloned control bytes.
    constexpr size_t kControlOverhead = 32;
    return sizeof(*this) + nodes_.capacity() * sizeof(Node) +
           index_.capacity() * (sizeof(Slot) + 1) + kControlOverhead;
  }

 private:
  static constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();

  struct Node {
    ClientKey client;
    int64_t units;       // tokens in the bucket at last_nanos, in kUnitsPerToken units
    int64_t last_nanos;  // when the bucket was last refilled
    uint32_t newer;      // neighbours in the recency list, or kNone
    uint32_t older;
  };

  // The node of `client`, made the most recent; a new client gets a full bucket, in a free node
  // or in the least recently used one's (see the header for why dropping that one is fine).
  uint32_t Touch(const ClientKey& client, int64_t now_nanos) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    uint32_t i;
    if (const auto it = index_.find(client); it != index_.end()) {
      i = it->second;
      Unlink(i);
    } else {
      if (nodes_.size() < capacity_) {
        i = static_cast<uint32_t>(nodes_.size());
        nodes_.push_back(Node{client, full_units_, now_nanos, kNone, kNone});
      } else {
        i = oldest_;
        Unlink(i);
        // Erase before inserting, so the index never holds more than capacity_ keys.
        index_.erase(nodes_[i].client);
        nodes_[i] = Node{client, full_units_, now_nanos, kNone, kNone};
      }
      index_.emplace(client, i);
    }
    PushNewest(i);
    return i;
  }

  void Unlink(uint32_t i) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Node& node = nodes_[i];
    (node.newer == kNone ? newest_ : nodes_[node.newer].older) = node.older;
    (node.older == kNone ? oldest_ : nodes_[node.older].newer) = node.newer;
    node.newer = node.older = kNone;
  }

  void PushNewest(uint32_t i) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Node& node = nodes_[i];
    node.newer = kNone;
    node.older = newest_;
    (newest_ == kNone ? oldest_ : nodes_[newest_].newer) = i;
    newest_ = i;
  }

  const size_t capacity_;
  const int64_t full_units_;
  const int64_t units_per_nano_;
  mutable absl::Mutex mu_;
  std::vector<Node> nodes_ ABSL_GUARDED_BY(mu_);  // reserved to capacity_, never reallocated
  absl::flat_hash_map<ClientKey, uint32_t> index_ ABSL_GUARDED_BY(mu_);
  uint32_t newest_ ABSL_GUARDED_BY(mu_) = kNone;
  uint32_t oldest_ ABSL_GUARDED_BY(mu_) = kNone;
};

absl::StatusOr<std::unique_ptr<RateLimiter>> RateLimiter::Create(const RateLimiterOptions& options,
                                                                 const Clock& clock) {
  if (options.requests_per_minute < 1 || options.requests_per_minute > kMaxRequestsPerMinute) {
    return absl::InvalidArgumentError(absl::StrCat("rate limit: requests_per_minute ",
                                                   options.requests_per_minute, " is not in 1..",
                                                   kMaxRequestsPerMinute));
  }
  if (options.shards < 1 || options.shards > kMaxShards) {
    return absl::InvalidArgumentError(
        absl::StrCat("rate limit: shards ", options.shards, " is not in 1..", kMaxShards));
  }
  if (options.max_clients < options.shards || options.max_clients > kMaxClients) {
    return absl::InvalidArgumentError(absl::StrCat("rate limit: max_clients ", options.max_clients,
                                                   " is not in ", options.shards, " (shards)..",
                                                   kMaxClients));
  }
  return absl::WrapUnique(new RateLimiter(options, clock));
}

RateLimiter::RateLimiter(const RateLimiterOptions& options, const Clock& clock)
    : requests_per_minute_(options.requests_per_minute),
      clock_(clock),
      origin_(clock.MonotonicNow()) {
  // The first max_clients % shards shards take one more, so the capacities add up exactly.
  const auto shards = static_cast<size_t>(options.shards);
  const auto clients = static_cast<size_t>(options.max_clients);
  shards_.reserve(shards);
  for (size_t i = 0; i < shards; ++i) {
    shards_.push_back(std::make_unique<Shard>(clients / shards + (i < clients % shards ? 1 : 0),
                                              requests_per_minute_));
  }
}

RateLimiter::~RateLimiter() = default;

RateLimiter::Decision RateLimiter::Admit(const ClientKey& client) {
  const int64_t now_nanos = absl::ToInt64Nanoseconds(clock_.MonotonicNow() - origin_);
  return ShardFor(client).Admit(client, now_nanos);
}

RateLimiter::Shard& RateLimiter::ShardFor(const ClientKey& client) const {
  // The high bits: the shard's own table takes its slot and tag from the low ones, which would
  // otherwise be the same for every key in a shard.
  const size_t hash = absl::Hash<ClientKey>{}(client);
  return *shards_[(hash >> 32) % shards_.size()];
}

size_t RateLimiter::size() const {
  size_t total = 0;
  for (const auto& shard : shards_) total += shard->size();
  return total;
}

size_t RateLimiter::capacity() const {
  size_t total = 0;
  for (const auto& shard : shards_) total += shard->capacity();
  return total;
}

size_t RateLimiter::MemoryBoundBytes() const {
  size_t total = sizeof(*this) + shards_.capacity() * sizeof(shards_[0]);
  for (const auto& shard : shards_) total += shard->MemoryBytes();
  return total;
}

std::vector<std::pair<std::string, std::string>> RateLimitHeaders(
    int64_t requests_per_minute, const RateLimiter::Decision& decision) {
  std::vector<std::pair<std::string, std::string>> headers;
  headers.reserve(3);
  headers.emplace_back("RateLimit-Policy",
                       absl::StrCat("\"default\";q=", requests_per_minute, ";w=60"));
  headers.emplace_back("RateLimit", absl::StrCat("\"default\";r=", decision.remaining,
                                                 ";t=", decision.reset_seconds));
  if (!decision.allowed) {
    headers.emplace_back("Retry-After", absl::StrCat(decision.retry_after_seconds));
  }
  return headers;
}

}  // namespace spine::gateway
