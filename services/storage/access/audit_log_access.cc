#include "services/storage/access/audit_log_access.h"

#include "absl/algorithm/container.h"
#include "absl/strings/str_cat.h"
#include "libs/core/status.h"
#include "services/storage/error_reasons.h"
#include "services/storage/paging.h"

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
  return absl::StrCat("audit\nactor=", params.actor, "\naction=", params.action,
                      "\nstart=", params.start_micros ? absl::StrCat(*params.start_micros) : "",
                      "\nend=", params.end_micros ? absl::StrCat(*params.end_micros) : "");
}

}  // namespace

absl::StatusOr<AuditEvent> AuditLogAccess::AppendAuditEvent(AuditEvent event) {
  SPINE_RETURN_IF_ERROR(PrepareAuditEvent(event));
  return adapter_.AppendAuditEvent(event);
}

absl::StatusOr<int> AuditLogAccess::AppendAuditEvents(std::vector<AuditEvent> events) {
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

absl::Status AuditLogAccess::PrepareAuditEvent(AuditEvent& event) const {
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

absl::StatusOr<AuditPage> AuditLogAccess::ListAuditEvents(const ListAuditParams& params) {
  SPINE_ASSIGN_OR_RETURN(const int page_size, PageSize(params.page_size));
  if (params.start_micros && params.end_micros && *params.start_micros >= *params.end_micros) {
    return absl::InvalidArgumentError("startTime: must be before endTime");
  }
  if (params.actor.size() > 128) {
    return absl::InvalidArgumentError("actor: at most 128 characters");
  }
  // "storage.*" asks for a prefix; the adapter takes a prefix as a name ending in '.'.
  std::string action = params.action;
  const bool prefix = action.ends_with(".*");
  if (prefix) action.pop_back();
  if (!action.empty() && !IsActionName(prefix ? action.substr(0, action.size() - 1) : action)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "action: '", params.action.substr(0, 80),
        "' is neither a lowercase dotted action name nor a prefix such as 'storage.*'"));
  }
  AuditQuery query{.actor = params.actor,
                   .action = std::move(action),
                   .start_micros = params.start_micros,
                   .end_micros = params.end_micros};
  SPINE_ASSIGN_OR_RETURN(
      PageOf<AuditEvent> page,
      ReadPage<AuditEvent>(std::move(query), page_size, params.page_token, page_tokens_,
                           AuditBinding(params),
                           [this](const AuditQuery& q) { return adapter_.ListAuditEvents(q); }));
  return AuditPage{std::move(page.rows), std::move(page.next_page_token)};
}

}  // namespace spine::storage
