// UserLimits: the per-user bounds of the LlmGateway — how many generations one user may have
// queued or running at once, and how many they may start per minute (a token bucket that refills
// continuously, so the allowance is smooth rather than reset each minute). Over either bound a
// request is RESOURCE_EXHAUSTED at once, reason USER_CONCURRENCY_LIMIT or USER_RATE_LIMIT, with
// a retry hint in the ErrorInfo metadata "retryAfterSeconds" (the gateway's Retry-After).
//
// Memory is bounded: a user with nothing in flight whose bucket has refilled is forgotten (they
// are indistinguishable from a new user), and beyond `max_tracked_users` the idle users are
// forgotten first. Users with generations in flight are bounded by the pool's queues.
// Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/core/clock.h"

namespace spine::llm {

struct UserLimitsConfig {
  int max_concurrent = 16;        // SPINE_LLM_USER_MAX_CONCURRENT
  int requests_per_minute = 120;  // SPINE_LLM_USER_REQUESTS_PER_MINUTE; also the burst
  size_t max_tracked_users = 10000;
};

class UserLimits {
 public:
  // `clock` must outlive this.
  UserLimits(UserLimitsConfig config, const Clock& clock) : config_(config), clock_(clock) {}

  // Takes one of `user`'s concurrent slots and one request from their bucket, or neither.
  absl::Status Acquire(const std::string& user);
  // Returns a slot taken by Acquire.
  void Release(const std::string& user);

  // Users currently remembered (for tests of the bound).
  size_t tracked_users() const;

 private:
  struct User {
    int in_flight = 0;
    double tokens = 0;
    absl::Time refilled{};
    absl::Time last_used{};
  };
  // Tops up `user`'s bucket to now.
  void Refill(User& user, absl::Time now) const;
  // Forgets users that hold nothing and would have a full bucket.
  void Sweep(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const UserLimitsConfig config_;
  const Clock& clock_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, User> users_ ABSL_GUARDED_BY(mu_);
};

}  // namespace spine::llm
