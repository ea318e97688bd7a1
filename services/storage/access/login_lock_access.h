// LoginLockAccess: the login lockout counters the gateway keeps per lock key (client address and
// username), evaluated at the clock's now under a policy the gateway passes and this checks.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "libs/core/clock.h"
#include "services/storage/storage_adapter.h"
#include "services/storage/user.h"

namespace spine::storage {

class LoginLockAccess {
 public:
  LoginLockAccess(StorageAdapter& adapter, const Clock& clock) : adapter_(adapter), clock_(clock) {}

  // Window and lock 1 s..1 day, 1..1000 failures; INVALID_ARGUMENT otherwise.
  absl::StatusOr<LoginLock> RecordLoginFailure(const std::string& username,
                                               const LockoutPolicy& policy);
  absl::StatusOr<LoginLock> GetLoginLock(const std::string& username, const LockoutPolicy& policy);
  absl::Status ResetLoginFailures(const std::string& username);

 private:
  StorageAdapter& adapter_;
  const Clock& clock_;
};

}  // namespace spine::storage
