// AuditLogAccess: the append-only audit log — event rules (lowercase dotted action, outcome
// ok/denied/error, bounded fields), batches appended all or none, and newest-first pages filtered
// by actor and time range.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/core/clock.h"
#include "services/storage/audit_event.h"
#include "services/storage/page_token.h"
#include "services/storage/storage_adapter.h"

namespace spine::storage {

struct ListAuditParams {
  std::string actor{};
  // An action name, a prefix written "storage.*", or empty for every action.
  std::string action{};
  std::optional<int64_t> start_micros{};
  std::optional<int64_t> end_micros{};
  int page_size = 0;  // 0: 50; else 1..500
  std::string page_token{};
};

struct AuditPage {
  std::vector<AuditEvent> events;
  std::string next_page_token;
};

class AuditLogAccess {
 public:
  AuditLogAccess(StorageAdapter& adapter, const PageTokenCodec& page_tokens, const Clock& clock)
      : adapter_(adapter), page_tokens_(page_tokens), clock_(clock) {}

  // Appends one event, stamped with the clock's now. `service` is the recording service (from
  // its token); action is lowercase dotted ("storage.backup"), outcome one of ok/denied/error,
  // details a JSON object of at most 16 KiB.
  absl::StatusOr<AuditEvent> AppendAuditEvent(AuditEvent event);
  // Appends 1..kMaxAuditBatch events in one transaction: all or, if any is invalid
  // (INVALID_ARGUMENT naming its index), none. Returns how many were appended.
  absl::StatusOr<int> AppendAuditEvents(std::vector<AuditEvent> events);
  static constexpr size_t kMaxAuditBatch = 500;
  absl::StatusOr<AuditPage> ListAuditEvents(const ListAuditParams& params);

 private:
  // Checks an event to be appended and stamps it with the clock; INVALID_ARGUMENT naming the
  // field.
  absl::Status PrepareAuditEvent(AuditEvent& event) const;

  StorageAdapter& adapter_;
  const PageTokenCodec& page_tokens_;
  const Clock& clock_;
};

}  // namespace spine::storage
