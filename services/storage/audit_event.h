// Domain types of the append-only audit log.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "services/storage/page_token.h"

namespace spine::storage {

struct AuditEvent {
  int64_t id = 0;
  int64_t create_micros = 0;
  std::string actor{};    // user id, or a service name for a service's own actions
  std::string service{};  // the recording service, from its token
  std::string action{};   // e.g. "storage.backup"
  std::string target{};
  std::string outcome{};       // "ok", "denied" or "error"
  std::string details_json{};  // a JSON object
  std::string request_id{};

  bool operator==(const AuditEvent&) const = default;
};

// One page of events, newest first (create_micros DESC, id DESC).
struct AuditQuery {
  std::string actor{};  // empty: everyone
  // Empty: every action; else the action must equal it or, when it ends with '.', start with it.
  std::string action{};
  std::optional<int64_t> start_micros{};  // inclusive
  std::optional<int64_t> end_micros{};    // exclusive
  std::optional<PageCursor> after{};
  int limit = 50;
};

}  // namespace spine::storage
