// Domain types of pipelines and runs: spine-tasks keeps them here so runs survive a crash.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "services/storage/page_token.h"

namespace spine::storage {

struct Pipeline {
  int64_t id = 0;
  int64_t user_id = 0;
  std::string name{};
  std::string definition_json{};  // a JSON object; spine-tasks validates its schema
  int64_t create_micros = 0;

  bool operator==(const Pipeline&) const = default;
};

// A run as stored: spine-tasks' serialized Run plus the fields queries filter on. Storage does
// not interpret the payload.
struct RunRecord {
  int64_t id = 0;
  int64_t user_id = 0;
  int64_t pipeline_id = 0;        // 0 for a one-off run
  std::string state{};            // QUEUED, RUNNING, SUCCEEDED, FAILED or CANCELLED
  std::string idempotency_key{};  // empty: none
  std::string payload{};          // bytes
  int64_t create_micros = 0;
  int64_t update_micros = 0;

  bool operator==(const RunRecord&) const = default;
};

struct RunInsert {
  RunRecord run{};
  bool created = false;  // false: an earlier run with the same idempotency key was returned
};

// One page of runs, newest first (create_micros DESC, id DESC).
struct RunQuery {
  int64_t user_id = 0;                // 0: every user (crash recovery only)
  int64_t pipeline_id = 0;            // 0: any
  std::vector<std::string> states{};  // empty: any
  std::optional<PageCursor> after{};
  int limit = 50;
};

}  // namespace spine::storage
