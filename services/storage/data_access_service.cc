#include "services/storage/data_access_service.h"

#include <openssl/rand.h>

#include <filesystem>

#include "absl/algorithm/container.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "libs/core/status.h"
#include "libs/rpc/error_info.h"
#include "services/storage/error_reasons.h"
#include "services/storage/paging.h"
#include "services/storage/search_query.h"
#include "services/storage/thought_validation.h"

namespace spine::storage {
namespace {

constexpr char kThoughtNotFound[] = "THOUGHT_NOT_FOUND";
constexpr char kUserNotFound[] = "USER_NOT_FOUND";

absl::Status CheckId(int64_t id) {
  if (id <= 0) return absl::InvalidArgumentError(absl::StrCat("id: ", id, " is not a thought id"));
  return absl::OkStatus();
}

// What a page token is bound to: the same user and the same filters.
std::string TokenBinding(int64_t user_id, const ListThoughtsParams& params) {
  return absl::StrCat("user=", user_id, "\ntag=", params.tag, "\nquery=", params.query);
}

absl::Status CheckUsername(const std::string& username) {
  const bool length_ok = username.size() >= 3 && username.size() <= 32;
  bool chars_ok = true;
  for (char c : username) {
    chars_ok = chars_ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
                            c == '.' || c == '-');
  }
  if (!length_ok || !chars_ok) {
    return absl::InvalidArgumentError(
        "username: must be 3..32 characters of a-z, 0-9, '_', '.' or '-'");
  }
  return absl::OkStatus();
}

absl::Status CheckLookupName(const std::string& username) {
  if (username.empty() || username.size() > 64) {
    return absl::InvalidArgumentError("username: must be 1..64 characters");
  }
  return absl::OkStatus();
}

absl::Status CheckTokenHash(absl::string_view field, const std::string& hash) {
  if (hash.size() != 32) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": must be a 32-byte SHA-256, got ", hash.size(), " bytes"));
  }
  return absl::OkStatus();
}

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

absl::StatusOr<Thought> DataAccessService::CreateThought(int64_t user_id, const std::string& text,
                                                         const std::vector<std::string>& tags) {
  SPINE_RETURN_IF_ERROR(ValidateThoughtText(text));
  SPINE_ASSIGN_OR_RETURN(std::vector<std::string> normalized, NormalizeTags(tags));
  Thought thought;
  thought.user_id = user_id;
  thought.text = text;
  thought.tags = std::move(normalized);
  thought.create_micros = absl::ToUnixMicros(clock_.Now());
  thought.update_micros = thought.create_micros;
  return adapter_.InsertThought(thought);
}

absl::StatusOr<Thought> DataAccessService::GetThought(int64_t user_id, int64_t id) {
  SPINE_RETURN_IF_ERROR(CheckId(id));
  return WithNotFoundReason(adapter_.GetThought(user_id, id), kThoughtNotFound);
}

absl::StatusOr<ThoughtPage> DataAccessService::ListThoughts(int64_t user_id,
                                                            const ListThoughtsParams& params) {
  SPINE_ASSIGN_OR_RETURN(const int page_size, PageSize(params.page_size));
  ThoughtQuery query;
  query.user_id = user_id;
  if (!params.tag.empty()) {
    absl::StatusOr<std::vector<std::string>> tag = NormalizeTags({params.tag});
    if (!tag.ok()) {
      // The rules are the tags' rules; the message names the query parameter.
      return absl::InvalidArgumentError(
          absl::StrCat("tag", absl::StripPrefix(tag.status().message(), "tags[0]")));
    }
    query.tag = tag->front();
  }
  if (!params.query.empty()) {
    SPINE_ASSIGN_OR_RETURN(query.fts_match, BuildFtsMatchExpression(params.query));
  }
  const std::string binding = TokenBinding(user_id, params);
  if (!params.page_token.empty()) {
    SPINE_ASSIGN_OR_RETURN(PageCursor cursor,
                           DecodePageToken(page_tokens_, params.page_token, binding));
    query.after = cursor;
  }
  query.limit = page_size + 1;
  ThoughtPage page;
  SPINE_ASSIGN_OR_RETURN(page.thoughts, adapter_.ListThoughts(query));
  page.next_page_token = TrimToPage(page.thoughts, page_size, page_tokens_, binding);
  return page;
}

absl::StatusOr<Thought> DataAccessService::UpdateThought(
    int64_t user_id, int64_t id, const std::optional<std::string>& text,
    const std::optional<std::vector<std::string>>& tags) {
  SPINE_RETURN_IF_ERROR(CheckId(id));
  ThoughtPatch patch;
  if (text) {
    SPINE_RETURN_IF_ERROR(ValidateThoughtText(*text));
    patch.text = *text;
  }
  if (tags) {
    SPINE_ASSIGN_OR_RETURN(patch.tags, NormalizeTags(*tags));
  }
  patch.update_micros = absl::ToUnixMicros(clock_.Now());
  return WithNotFoundReason(adapter_.UpdateThought(user_id, id, patch), kThoughtNotFound);
}

absl::Status DataAccessService::DeleteThought(int64_t user_id, int64_t id) {
  SPINE_RETURN_IF_ERROR(CheckId(id));
  return WithNotFoundReason(adapter_.DeleteThought(user_id, id), kThoughtNotFound);
}

}  // namespace spine::storage

namespace spine::storage {

absl::StatusOr<User> DataAccessService::CreateUser(const std::string& username,
                                                   const std::string& role,
                                                   const std::string& password_hash) {
  SPINE_RETURN_IF_ERROR(CheckUsername(username));
  if (role != "user" && role != "admin") {
    return absl::InvalidArgumentError(absl::StrCat("role: '", role, "', must be user or admin"));
  }
  if (password_hash.empty() || password_hash.size() > 512) {
    return absl::InvalidArgumentError("passwordHash: must be 1..512 characters");
  }
  return adapter_.InsertUser(User{.username = username,
                                  .role = role,
                                  .password_hash = password_hash,
                                  .create_micros = absl::ToUnixMicros(clock_.Now())});
}

absl::StatusOr<User> DataAccessService::GetUserById(int64_t id) {
  if (id <= 0) return absl::InvalidArgumentError(absl::StrCat("id: ", id, " is not a user id"));
  return WithNotFoundReason(adapter_.GetUserById(id), kUserNotFound);
}

absl::StatusOr<User> DataAccessService::GetUserByName(const std::string& username) {
  SPINE_RETURN_IF_ERROR(CheckLookupName(username));
  return WithNotFoundReason(adapter_.GetUserByName(username), kUserNotFound);
}

absl::StatusOr<std::vector<User>> DataAccessService::ListUsers() { return adapter_.ListUsers(); }

absl::StatusOr<LoginLock> DataAccessService::RecordLoginFailure(const std::string& username,
                                                                const LockoutPolicy& policy) {
  SPINE_RETURN_IF_ERROR(CheckLookupName(username));
  SPINE_RETURN_IF_ERROR(CheckPolicy(policy));
  return adapter_.RecordLoginFailure(username, absl::ToUnixMicros(clock_.Now()), policy);
}

absl::StatusOr<LoginLock> DataAccessService::GetLoginLock(const std::string& username,
                                                          const LockoutPolicy& policy) {
  SPINE_RETURN_IF_ERROR(CheckLookupName(username));
  SPINE_RETURN_IF_ERROR(CheckPolicy(policy));
  return adapter_.GetLoginLock(username, absl::ToUnixMicros(clock_.Now()), policy);
}

absl::Status DataAccessService::ResetLoginFailures(const std::string& username) {
  SPINE_RETURN_IF_ERROR(CheckLookupName(username));
  return adapter_.ResetLoginFailures(username);
}

absl::StatusOr<RefreshToken> DataAccessService::CreateRefreshToken(int64_t user_id,
                                                                   const std::string& token_hash,
                                                                   const std::string& family_id,
                                                                   int64_t expire_micros) {
  SPINE_RETURN_IF_ERROR(CheckTokenHash("tokenHash", token_hash));
  const int64_t now = absl::ToUnixMicros(clock_.Now());
  if (expire_micros <= now) return absl::InvalidArgumentError("expireTime: must be in the future");
  SPINE_ASSIGN_OR_RETURN(User user, GetUserById(user_id));
  RefreshToken token{.token_hash = token_hash,
                     .family_id = family_id,
                     .user_id = user.id,
                     .expire_micros = expire_micros};
  if (token.family_id.empty()) {
    unsigned char bytes[16];
    if (RAND_bytes(bytes, sizeof(bytes)) != 1)
      return absl::InternalError("no randomness for a family id");
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

absl::StatusOr<RefreshToken> DataAccessService::RotateRefreshToken(
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

absl::Status DataAccessService::RevokeRefreshFamily(const std::string& token_hash) {
  SPINE_RETURN_IF_ERROR(CheckTokenHash("tokenHash", token_hash));
  return adapter_.RevokeRefreshFamily(token_hash);
}

}  // namespace spine::storage

namespace spine::storage {

absl::StatusOr<int64_t> DataAccessService::BackupDatabase(const std::string& directory,
                                                          const std::string& file_name) {
  const bool chars_ok = absl::c_all_of(file_name, [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
  if (file_name.empty() || file_name.size() > 64 || file_name.front() == '.' || !chars_ok) {
    return absl::InvalidArgumentError(
        "fileName: 1..64 characters of A-Z, a-z, 0-9, '.', '_' or '-', not starting with '.'");
  }
  std::error_code ec;
  std::filesystem::create_directories(directory, ec);
  if (ec) return absl::InternalError("cannot create the backup directory");
  const std::string path = directory + "/" + file_name;
  if (std::filesystem::exists(path, ec)) {
    return absl::AlreadyExistsError(absl::StrCat("backup '", file_name, "' already exists"));
  }
  SPINE_RETURN_IF_ERROR(adapter_.Backup(path));
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return absl::InternalError("the backup file vanished");
  return static_cast<int64_t>(size);
}

}  // namespace spine::storage

namespace spine::storage {
namespace {

bool IsActionName(const std::string& action) {
  if (action.empty() || action.size() > 64 || action.front() == '.' || action.back() == '.') {
    return false;
  }
  return absl::c_all_of(action, [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
  });
}

std::string AuditBinding(const ListAuditParams& params) {
  return absl::StrCat("audit\nactor=", params.actor,
                      "\nstart=", params.start_micros ? absl::StrCat(*params.start_micros) : "",
                      "\nend=", params.end_micros ? absl::StrCat(*params.end_micros) : "");
}

}  // namespace

absl::StatusOr<AuditEvent> DataAccessService::AppendAuditEvent(AuditEvent event) {
  SPINE_RETURN_IF_ERROR(PrepareAuditEvent(event));
  return adapter_.AppendAuditEvent(event);
}

absl::StatusOr<int> DataAccessService::AppendAuditEvents(std::vector<AuditEvent> events) {
  if (events.empty() || events.size() > kMaxAuditBatch) {
    return absl::InvalidArgumentError(
        absl::StrCat("events: ", events.size(), ", must be 1..", kMaxAuditBatch));
  }
  for (size_t i = 0; i < events.size(); ++i) {
    if (absl::Status valid = PrepareAuditEvent(events[i]); !valid.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("events[", i, "].", valid.message()));
    }
  }
  SPINE_ASSIGN_OR_RETURN(std::vector<AuditEvent> stored, adapter_.AppendAuditEvents(events));
  return static_cast<int>(stored.size());
}

absl::Status DataAccessService::PrepareAuditEvent(AuditEvent& event) const {
  if (!IsActionName(event.action)) {
    return absl::InvalidArgumentError(
        absl::StrCat("action: '", event.action, "' is not a lowercase dotted name of at most 64"));
  }
  if (event.outcome != "ok" && event.outcome != "denied" && event.outcome != "error") {
    return absl::InvalidArgumentError(
        absl::StrCat("outcome: '", event.outcome, "', must be ok, denied or error"));
  }
  if (event.actor.empty() || event.actor.size() > 128) {
    return absl::InvalidArgumentError("actor: must be 1..128 characters");
  }
  if (event.service.empty() || event.service.size() > 64) {
    return absl::InvalidArgumentError("service: must be 1..64 characters");
  }
  if (event.target.size() > 256)
    return absl::InvalidArgumentError("target: at most 256 characters");
  if (event.request_id.size() > 128)
    return absl::InvalidArgumentError("requestId: at most 128 characters");
  if (event.details_json.empty()) event.details_json = "{}";
  if (event.details_json.size() > size_t{16} * 1024) {
    return absl::InvalidArgumentError("details: at most 16 KiB of JSON");
  }
  event.id = 0;
  event.create_micros = absl::ToUnixMicros(clock_.Now());
  return absl::OkStatus();
}

absl::StatusOr<AuditPage> DataAccessService::ListAuditEvents(const ListAuditParams& params) {
  SPINE_ASSIGN_OR_RETURN(const int page_size, PageSize(params.page_size));
  if (params.start_micros && params.end_micros && *params.start_micros >= *params.end_micros) {
    return absl::InvalidArgumentError("startTime: must be before endTime");
  }
  AuditQuery query{
      .actor = params.actor, .start_micros = params.start_micros, .end_micros = params.end_micros};
  const std::string binding = AuditBinding(params);
  if (!params.page_token.empty()) {
    SPINE_ASSIGN_OR_RETURN(PageCursor cursor,
                           DecodePageToken(page_tokens_, params.page_token, binding));
    query.after = cursor;
  }
  query.limit = page_size + 1;
  AuditPage page;
  SPINE_ASSIGN_OR_RETURN(page.events, adapter_.ListAuditEvents(query));
  page.next_page_token = TrimToPage(page.events, page_size, page_tokens_, binding);
  return page;
}

}  // namespace spine::storage
