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

absl::Status SessionGate::Judge(const Known& known, const AccessClaims& claims) {
  if (!known.exists) return NoSuchUser();
  if (known.disabled) {
    return rpc::WithErrorInfo(absl::UnauthenticatedError("the account is disabled"),
                              "ACCOUNT_DISABLED");
  }
  // Only a token that claims more than the user now has stops (a demoted admin's); one that
  // claims less (a promoted user's) grants nothing the user lacks.
  if (claims.role == "admin" && known.role != "admin") {
    return rpc::WithErrorInfo(
        absl::UnauthenticatedError("the token's role is no longer the user's; log in again"),
        "TOKEN_REVOKED");
  }
  return absl::OkStatus();
}

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
  const absl::Time changed = revocations_.UserChangedAt(claims.sub);
  absl::MutexLock lock(&mu_);
  auto it = known_.find(claims.sub);
  if (it == known_.end() || clock_.Now() - it->second.checked >= options_.ttl ||
      changed >= it->second.checked) {
    return std::nullopt;
  }
  return Judge(it->second, claims);
}

absl::Status SessionGate::LookUp(const AccessClaims& claims) const {
  const std::string& user_id = claims.sub;
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
  const Known known{.exists = user.ok(),
                    .disabled = user.ok() && user->disabled,
                    .role = user.ok() ? user->role : "",
                    .checked = clock_.Now()};
  {
    absl::MutexLock lock(&mu_);
    if (known_.size() >= options_.capacity && !known_.contains(user_id)) {
      const absl::Time now = clock_.Now();
      absl::erase_if(known_,
                     [&](const auto& entry) { return now - entry.second.checked >= options_.ttl; });
      // Still full of fresh answers: start over rather than grow (they are only a cache).
      if (known_.size() >= options_.capacity) known_.clear();
    }
    known_[user_id] = known;
  }
  return Judge(known, claims);
}

void SessionGate::Check(const AccessClaims& claims, std::function<void(absl::Status)> done) const {
  if (std::optional<absl::Status> quick = Quick(claims)) return done(*std::move(quick));
  auto shared_done = std::make_shared<std::function<void(absl::Status)>>(std::move(done));
  const absl::Status queued =
      pool_.Submit([this, claims, shared_done] { (*shared_done)(LookUp(claims)); });
  if (!queued.ok()) {
    (*shared_done)(absl::UnavailableError("too many requests being checked; retry shortly"));
  }
}

absl::Status SessionGate::CheckNow(const AccessClaims& claims) const {
  if (std::optional<absl::Status> quick = Quick(claims)) return *std::move(quick);
  return LookUp(claims);
}

}  // namespace spine::gateway
