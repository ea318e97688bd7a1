#include "services/gateway/auth/session_gate.h"

#include <utility>

#include "absl/strings/numbers.h"
#include "libs/core/log.h"
#include "libs/rpc/error_info.h"

namespace spine::gateway {
namespace {

absl::Status NoSuchUser() {
  return rpc::WithErrorInfo(absl::UnauthenticatedError("the token's user no longer exists"),
                            "TOKEN_USER_UNKNOWN");
}

}  // namespace

SessionGate::SessionGate(const SessionRevocations& revocations, UserStore& store, WorkerPool& pool,
                         const Clock& clock, SessionGateOptions options)
    : revocations_(revocations), store_(store), pool_(pool), clock_(clock), options_(options) {}

std::optional<absl::Status> SessionGate::Quick(const AccessClaims& claims) const {
  if (revocations_.IsRevoked(claims.jti)) {
    return rpc::WithErrorInfo(
        absl::UnauthenticatedError("the token has been revoked (logged out); log in again"),
        "TOKEN_REVOKED");
  }
  if (claims.role == "service") return absl::OkStatus();
  int64_t id = 0;
  if (!absl::SimpleAtoi(claims.sub, &id) || id <= 0) return NoSuchUser();
  absl::MutexLock lock(&mu_);
  auto it = known_.find(claims.sub);
  if (it == known_.end() || clock_.Now() - it->second.checked >= options_.ttl) return std::nullopt;
  return it->second.exists ? absl::OkStatus() : NoSuchUser();
}

absl::Status SessionGate::LookUp(const std::string& user_id) const {
  int64_t id = 0;
  if (!absl::SimpleAtoi(user_id, &id)) return NoSuchUser();
  absl::StatusOr<UserRecord> user = store_.GetUserById(id);
  if (absl::IsUnavailable(user.status()) || absl::IsDeadlineExceeded(user.status())) {
    // Storage cannot be reached (down, or not connected yet). Refusing every request would take
    // routes that do not need storage down with it; the revocation list still applies, and the
    // answer is not remembered, so the user is checked again on the next request.
    log::Warn("cannot check a token's user; letting it through",
              {{"user_id", user_id}, {"error", std::string(user.status().message())}});
    return absl::OkStatus();
  }
  if (!user.ok() && !absl::IsNotFound(user.status())) {
    log::Warn("cannot check a token's user", {{"error", std::string(user.status().message())}});
    return absl::UnavailableError("cannot check the token's user now; retry shortly");
  }
  const bool exists = user.ok();
  {
    absl::MutexLock lock(&mu_);
    if (known_.size() >= options_.capacity && !known_.contains(user_id)) {
      const absl::Time now = clock_.Now();
      absl::erase_if(known_,
                     [&](const auto& entry) { return now - entry.second.checked >= options_.ttl; });
      // Still full of fresh answers: start over rather than grow (they are only a cache).
      if (known_.size() >= options_.capacity) known_.clear();
    }
    known_[user_id] = Known{.exists = exists, .checked = clock_.Now()};
  }
  return exists ? absl::OkStatus() : NoSuchUser();
}

void SessionGate::Check(const AccessClaims& claims, std::function<void(absl::Status)> done) const {
  if (std::optional<absl::Status> quick = Quick(claims)) return done(*std::move(quick));
  auto shared_done = std::make_shared<std::function<void(absl::Status)>>(std::move(done));
  const absl::Status queued =
      pool_.Submit([this, user_id = claims.sub, shared_done] { (*shared_done)(LookUp(user_id)); });
  if (!queued.ok()) {
    (*shared_done)(absl::UnavailableError("too many requests being checked; retry shortly"));
  }
}

absl::Status SessionGate::CheckNow(const AccessClaims& claims) const {
  if (std::optional<absl::Status> quick = Quick(claims)) return *std::move(quick);
  return LookUp(claims.sub);
}

}  // namespace spine::gateway
