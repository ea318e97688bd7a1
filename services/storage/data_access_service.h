// DataAccessService: the business rules of thoughts between the gRPC layer and the
// StorageAdapter — validation, ownership, pagination with tamper-proof page tokens, search.
//
// It never names a database: the adapter behind it is an interface. Bad input is rejected with
// INVALID_ARGUMENT before anything is written. Thread-safe (the adapter is).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/core/clock.h"
#include "services/storage/audit_event.h"
#include "services/storage/page_token.h"
#include "services/storage/storage_adapter.h"
#include "services/storage/thought.h"
#include "services/storage/user.h"

namespace spine::storage {

struct ListThoughtsParams {
  int page_size = 0;  // 0: the default (50); else 1..500
  std::string page_token{};
  std::string tag{};
  std::string query{};
};

struct ListAuditParams {
  std::string actor{};
  std::optional<int64_t> start_micros{};
  std::optional<int64_t> end_micros{};
  int page_size = 0;  // 0: 50; else 1..500
  std::string page_token{};
};

struct AuditPage {
  std::vector<AuditEvent> events;
  std::string next_page_token;
};

struct ThoughtPage {
  std::vector<Thought> thoughts;
  std::string next_page_token;  // empty on the last page
};

class DataAccessService {
 public:
  static constexpr int kDefaultPageSize = 50;
  static constexpr int kMaxPageSize = 500;

  DataAccessService(StorageAdapter& adapter, const PageTokenCodec& page_tokens, const Clock& clock)
      : adapter_(adapter), page_tokens_(page_tokens), clock_(clock) {}

  absl::StatusOr<Thought> CreateThought(int64_t user_id, const std::string& text,
                                        const std::vector<std::string>& tags);
  absl::StatusOr<Thought> GetThought(int64_t user_id, int64_t id);
  absl::StatusOr<ThoughtPage> ListThoughts(int64_t user_id, const ListThoughtsParams& params);
  // Replaces the fields that are present; NOT_FOUND for another user's thought.
  absl::StatusOr<Thought> UpdateThought(int64_t user_id, int64_t id,
                                        const std::optional<std::string>& text,
                                        const std::optional<std::vector<std::string>>& tags);
  absl::Status DeleteThought(int64_t user_id, int64_t id);

  // Users. `username` must match ^[a-z0-9_.-]{3,32}$ (API.md), role "user" or "admin", and the
  // hash is the gateway's encoded scrypt hash. ALREADY_EXISTS for a taken name (any case).
  absl::StatusOr<User> CreateUser(const std::string& username, const std::string& role,
                                  const std::string& password_hash);
  absl::StatusOr<User> GetUserById(int64_t id);
  // Case-insensitive.
  absl::StatusOr<User> GetUserByName(const std::string& username);
  absl::StatusOr<std::vector<User>> ListUsers();

  // Login lockout, evaluated at the clock's now.
  absl::StatusOr<LoginLock> RecordLoginFailure(const std::string& username,
                                               const LockoutPolicy& policy);
  absl::StatusOr<LoginLock> GetLoginLock(const std::string& username, const LockoutPolicy& policy);
  absl::Status ResetLoginFailures(const std::string& username);

  // Refresh tokens: `token_hash` is the SHA-256 (32 bytes) of the opaque token. An empty
  // `family_id` starts a new family (a random id is chosen).
  absl::StatusOr<RefreshToken> CreateRefreshToken(int64_t user_id, const std::string& token_hash,
                                                  const std::string& family_id,
                                                  int64_t expire_micros);
  absl::StatusOr<RefreshToken> RotateRefreshToken(const std::string& presented_hash,
                                                  const std::string& successor_hash,
                                                  int64_t successor_expire_micros);
  absl::Status RevokeRefreshFamily(const std::string& token_hash);

  // Appends to the audit log, stamped with the clock's now. `service` is the recording
  // service (from its token); action is lowercase dotted ("storage.backup"), outcome one of
  // ok/denied/error, details a JSON object of at most 16 KiB.
  absl::StatusOr<AuditEvent> AppendAuditEvent(AuditEvent event);
  absl::StatusOr<AuditPage> ListAuditEvents(const ListAuditParams& params);

  // Online backup into `directory`/`file_name`. The name is 1..64 of [A-Za-z0-9._-], not
  // starting with '.', so it can never leave the directory; an existing file is ALREADY_EXISTS.
  // Returns the size of the copy in bytes.
  absl::StatusOr<int64_t> BackupDatabase(const std::string& directory,
                                         const std::string& file_name);

 private:
  StorageAdapter& adapter_;
  const PageTokenCodec& page_tokens_;
  const Clock& clock_;
};

}  // namespace spine::storage
