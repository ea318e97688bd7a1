#include "services/storage/access/login_lock_access.h"

#include "libs/core/status.h"
#include "services/storage/access/field_checks.h"

namespace spine::storage {
namespace {

absl::Status CheckPolicy(const LockoutPolicy& policy) {
  constexpr int64_t kDayMicros = int64_t{86400} * 1'000'000;
  if (policy.window_micros < 1'000'000 || policy.window_micros > kDayMicros ||
      policy.lock_micros < 1'000'000 || policy.lock_micros > kDayMicros ||
      policy.max_failures < 1 || policy.max_failures > 1000) {
    return absl::InvalidArgumentError(
        "lockout policy: window and lock must be 1..86400 seconds, max failures 1..1000");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<LoginLock> LoginLockAccess::RecordLoginFailure(const std::string& username,
                                                              const LockoutPolicy& policy) {
  SPINE_RETURN_IF_ERROR(CheckLookupName(username));
  SPINE_RETURN_IF_ERROR(CheckPolicy(policy));
  return adapter_.RecordLoginFailure(username, absl::ToUnixMicros(clock_.Now()), policy);
}

absl::StatusOr<LoginLock> LoginLockAccess::GetLoginLock(const std::string& username,
                                                        const LockoutPolicy& policy) {
  SPINE_RETURN_IF_ERROR(CheckLookupName(username));
  SPINE_RETURN_IF_ERROR(CheckPolicy(policy));
  return adapter_.GetLoginLock(username, absl::ToUnixMicros(clock_.Now()), policy);
}

absl::Status LoginLockAccess::ResetLoginFailures(const std::string& username) {
  SPINE_RETURN_IF_ERROR(CheckLookupName(username));
  return adapter_.ResetLoginFailures(username);
}

}  // namespace spine::storage
