#include "services/storage/access/api_key_access.h"

#include "absl/strings/str_cat.h"
#include "libs/core/status.h"
#include "services/storage/access/field_checks.h"
#include "services/storage/access/user_access.h"
#include "services/storage/error_reasons.h"

namespace spine::storage {
namespace {

absl::Status CheckPrefix(const std::string& prefix) {
  bool ok = prefix.size() >= 8 && prefix.size() <= 64;
  for (const char c : prefix) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '-');
  }
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError("prefix: must be 8..64 of A-Z, a-z, 0-9, '_' or '-'");
}

}  // namespace

absl::StatusOr<ApiKey> ApiKeyAccess::CreateApiKey(const ApiKey& key) {
  SPINE_RETURN_IF_ERROR(CheckOwner(key.user_id));
  SPINE_RETURN_IF_ERROR(CheckText("name", key.name, 1, 64, /*single_line=*/true));
  if (key.scope != "read" && key.scope != "write") {
    return absl::InvalidArgumentError(
        absl::StrCat("scope: '", key.scope.substr(0, 16), "', must be read or write"));
  }
  SPINE_RETURN_IF_ERROR(CheckPrefix(key.prefix));
  SPINE_RETURN_IF_ERROR(CheckTokenHash("secretHash", key.secret_hash));
  const int64_t now = absl::ToUnixMicros(clock_.Now());
  if (key.expire_micros <= now) {
    return absl::InvalidArgumentError("expireTime: must be in the future");
  }
  SPINE_RETURN_IF_ERROR(
      WithNotFoundReason(adapter_.GetUserById(key.user_id), kUserNotFound).status());
  ApiKey stored = key;
  stored.create_micros = now;
  return adapter_.InsertApiKey(stored);
}

absl::StatusOr<ApiKey> ApiKeyAccess::GetApiKeyByPrefix(const std::string& prefix) {
  SPINE_RETURN_IF_ERROR(CheckPrefix(prefix));
  return WithNotFoundReason(adapter_.GetApiKeyByPrefix(prefix), kApiKeyNotFound);
}

absl::StatusOr<std::vector<ApiKey>> ApiKeyAccess::ListApiKeys(int64_t user_id) {
  if (user_id < 0) return CheckOwner(user_id);
  return adapter_.ListApiKeys(user_id);
}

absl::StatusOr<ApiKey> ApiKeyAccess::RevokeApiKey(int64_t user_id, int64_t id) {
  SPINE_RETURN_IF_ERROR(CheckRecordId("API key", id));
  if (user_id < 0) return CheckOwner(user_id);
  return WithNotFoundReason(adapter_.RevokeApiKey(user_id, id, absl::ToUnixMicros(clock_.Now())),
                            kApiKeyNotFound);
}

absl::Status ApiKeyAccess::TouchApiKey(int64_t id) {
  SPINE_RETURN_IF_ERROR(CheckRecordId("API key", id));
  return WithNotFoundReason(adapter_.TouchApiKey(id, absl::ToUnixMicros(clock_.Now())),
                            kApiKeyNotFound);
}

}  // namespace spine::storage
