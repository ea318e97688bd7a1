// ApiKeyAccess: the gateway's API keys for scripts. Storage keeps the public prefix the key is
// looked up by and the SHA-256 of its secret, never the secret; the gateway compares hashes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/core/clock.h"
#include "services/storage/storage_adapter.h"
#include "services/storage/user.h"

namespace spine::storage {

// The reason of a lookup that names no API key.
inline constexpr char kApiKeyNotFound[] = "API_KEY_NOT_FOUND";

class ApiKeyAccess {
 public:
  ApiKeyAccess(StorageAdapter& adapter, const Clock& clock) : adapter_(adapter), clock_(clock) {}

  // `key` needs an existing user, a name of 1..64 single-line characters, scope "read" or
  // "write", a prefix of 8..64 of [A-Za-z0-9_-], a 32-byte secret hash and an expiry after now.
  absl::StatusOr<ApiKey> CreateApiKey(const ApiKey& key);
  absl::StatusOr<ApiKey> GetApiKeyByPrefix(const std::string& prefix);
  // `user_id` 0: every user's.
  absl::StatusOr<std::vector<ApiKey>> ListApiKeys(int64_t user_id);
  // NOT_FOUND unless the key is `user_id`'s (0: anyone's). Revoking twice keeps the first time.
  absl::StatusOr<ApiKey> RevokeApiKey(int64_t user_id, int64_t id);
  absl::Status TouchApiKey(int64_t id);

 private:
  StorageAdapter& adapter_;
  const Clock& clock_;
};

}  // namespace spine::storage
