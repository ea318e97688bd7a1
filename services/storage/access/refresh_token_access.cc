#include "services/storage/access/refresh_token_access.h"

#include <openssl/rand.h>

#include "absl/algorithm/container.h"
#include "absl/strings/escaping.h"
#include "libs/core/status.h"
#include "services/storage/access/field_checks.h"
#include "services/storage/access/user_access.h"
#include "services/storage/error_reasons.h"

namespace spine::storage {

absl::StatusOr<RefreshToken> RefreshTokenAccess::CreateRefreshToken(int64_t user_id,
                                                                    const std::string& token_hash,
                                                                    const std::string& family_id,
                                                                    int64_t expire_micros) {
  SPINE_RETURN_IF_ERROR(CheckTokenHash("tokenHash", token_hash));
  const int64_t now = absl::ToUnixMicros(clock_.Now());
  if (expire_micros <= now) return absl::InvalidArgumentError("expireTime: must be in the future");
  SPINE_RETURN_IF_ERROR(CheckRecordId("user", user_id));
  SPINE_ASSIGN_OR_RETURN(User user,
                         WithNotFoundReason(adapter_.GetUserById(user_id), kUserNotFound));
  RefreshToken token{.token_hash = token_hash,
                     .family_id = family_id,
                     .user_id = user.id,
                     .expire_micros = expire_micros};
  if (token.family_id.empty()) {
    unsigned char bytes[16];
    if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
      return absl::InternalError("no randomness for a family id");
    }
    token.family_id =
        absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(bytes), sizeof(bytes)));
  } else if (token.family_id.size() != 32 || !absl::c_all_of(token.family_id, [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
             })) {
    return absl::InvalidArgumentError("familyId: must be 32 lowercase hex characters");
  }
  SPINE_RETURN_IF_ERROR(adapter_.InsertRefreshToken(token, now));
  return token;
}

absl::StatusOr<RefreshToken> RefreshTokenAccess::RotateRefreshToken(
    const std::string& presented_hash, const std::string& successor_hash,
    int64_t successor_expire_micros) {
  SPINE_RETURN_IF_ERROR(CheckTokenHash("presentedHash", presented_hash));
  SPINE_RETURN_IF_ERROR(CheckTokenHash("successorHash", successor_hash));
  const int64_t now = absl::ToUnixMicros(clock_.Now());
  if (successor_expire_micros <= now) {
    return absl::InvalidArgumentError("successorExpireTime: must be in the future");
  }
  SPINE_ASSIGN_OR_RETURN(
      RefreshToken presented,
      adapter_.RotateRefreshToken(
          presented_hash,
          RefreshToken{.token_hash = successor_hash, .expire_micros = successor_expire_micros},
          now));
  return RefreshToken{.token_hash = successor_hash,
                      .family_id = presented.family_id,
                      .user_id = presented.user_id,
                      .expire_micros = successor_expire_micros};
}

absl::Status RefreshTokenAccess::RevokeRefreshFamily(const std::string& token_hash) {
  SPINE_RETURN_IF_ERROR(CheckTokenHash("tokenHash", token_hash));
  return adapter_.RevokeRefreshFamily(token_hash);
}

}  // namespace spine::storage
