#include "services/llm/user_limits.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/rpc/error_info.h"

namespace spine::llm {

void UserLimits::Refill(User& user, absl::Time now) const {
  const double per_second = config_.requests_per_minute / 60.0;
  user.tokens =
      std::min<double>(config_.requests_per_minute,
                       user.tokens + absl::ToDoubleSeconds(now - user.refilled) * per_second);
  user.refilled = now;
}

absl::Status UserLimits::Acquire(const std::string& user_id) {
  const absl::Time now = clock_.MonotonicNow();
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = users_.try_emplace(user_id);
  User& user = it->second;
  if (inserted) {
    user.tokens = config_.requests_per_minute;
    user.refilled = now;
  } else {
    Refill(user, now);
  }
  if (user.in_flight >= config_.max_concurrent) {
    return rpc::WithErrorInfo(
        absl::ResourceExhaustedError(absl::StrCat("you have ", user.in_flight,
                                                  " generations queued or running, the most "
                                                  "allowed at once; retry when one ends")),
        "USER_CONCURRENCY_LIMIT", {{"retryAfterSeconds", "1"}});
  }
  if (user.tokens < 1) {
    const double wait_seconds = (1 - user.tokens) * 60.0 / config_.requests_per_minute;
    const auto retry_after = static_cast<int64_t>(std::max(1.0, std::ceil(wait_seconds)));
    return rpc::WithErrorInfo(absl::ResourceExhaustedError(absl::StrCat(
                                  "more than ", config_.requests_per_minute,
                                  " generations a minute; retry in ", retry_after, " s")),
                              "USER_RATE_LIMIT",
                              {{"retryAfterSeconds", absl::StrCat(retry_after)}});
  }
  user.tokens -= 1;
  ++user.in_flight;
  user.last_used = now;
  if (inserted && users_.size() > config_.max_tracked_users) Sweep(now);
  return absl::OkStatus();
}

void UserLimits::Release(const std::string& user_id) {
  absl::MutexLock lock(&mu_);
  auto it = users_.find(user_id);
  if (it == users_.end() || it->second.in_flight == 0) return;
  --it->second.in_flight;
}

size_t UserLimits::tracked_users() const {
  absl::MutexLock lock(&mu_);
  return users_.size();
}

void UserLimits::Sweep(absl::Time now) {
  std::vector<std::string> idle;
  for (auto& [id, user] : users_) {
    if (user.in_flight > 0) continue;
    Refill(user, now);
    if (user.tokens >= config_.requests_per_minute) {
      idle.push_back(id);
    }
  }
  for (const std::string& id : idle) users_.erase(id);
  if (users_.size() <= config_.max_tracked_users) return;
  // Still over: forget the idle users seen longest ago, though their buckets are not full
  // (forgetting one can only grant them a fresh burst, never refuse anyone), down to 90 % of the
  // bound so that the next new users do not each pay for a sweep.
  const size_t target = config_.max_tracked_users - config_.max_tracked_users / 10;
  std::vector<std::pair<absl::Time, std::string>> candidates;
  for (const auto& [id, user] : users_) {
    if (user.in_flight == 0) candidates.emplace_back(user.last_used, id);
  }
  std::sort(candidates.begin(), candidates.end());
  for (const auto& [last_used, id] : candidates) {
    if (users_.size() <= target) break;
    users_.erase(id);
  }
}

}  // namespace spine::llm
