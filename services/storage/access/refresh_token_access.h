// RefreshTokenAccess: the gateway's rotating refresh-token families. Only SHA-256 hashes of the
// opaque tokens are stored; rotation and reuse detection happen in one adapter transaction.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "libs/core/clock.h"
#include "services/storage/storage_adapter.h"
#include "services/storage/user.h"

namespace spine::storage {

class RefreshTokenAccess {
 public:
  RefreshTokenAccess(StorageAdapter& adapter, const Clock& clock)
      : adapter_(adapter), clock_(clock) {}

  // `token_hash` is the SHA-256 (32 bytes) of the opaque token, for an existing user. An empty
  // `family_id` starts a new family (a random id is chosen).
  absl::StatusOr<RefreshToken> CreateRefreshToken(int64_t user_id, const std::string& token_hash,
                                                  const std::string& family_id,
                                                  int64_t expire_micros);
  absl::StatusOr<RefreshToken> RotateRefreshToken(const std::string& presented_hash,
                                                  const std::string& successor_hash,
                                                  int64_t successor_expire_micros);
  absl::Status RevokeRefreshFamily(const std::string& token_hash);

 private:
  StorageAdapter& adapter_;
  const Clock& clock_;
};

}  // namespace spine::storage
