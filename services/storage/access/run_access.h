// RunAccess: spine-tasks' pipeline runs — state and payload rules, idempotency keys (a reused key
// returns the user's earlier run), finished runs frozen, and the cross-user listing of unfinished
// runs that crash recovery needs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/core/clock.h"
#include "services/storage/page_token.h"
#include "services/storage/pipeline.h"
#include "services/storage/storage_adapter.h"

namespace spine::storage {

struct ListRunsParams {
  int64_t user_id = 0;
  int64_t pipeline_id = 0;  // 0: any
  std::string state{};      // empty: any
  // Crash recovery: runs in any of these states, of every user when user_id is 0. Not
  // combinable with `state`.
  std::vector<std::string> unfinished_states{};
  int page_size = 0;
  std::string page_token{};
};

struct RunPage {
  std::vector<RunRecord> runs;
  std::string next_page_token;
};

class RunAccess {
 public:
  RunAccess(StorageAdapter& adapter, const PageTokenCodec& page_tokens, const Clock& clock)
      : adapter_(adapter), page_tokens_(page_tokens), clock_(clock) {}

  // State one of QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED; idempotency key at most 128
  // printable ASCII characters; payload at most 4 MiB. Stamps both times with the clock's now and
  // returns the user's earlier run for a reused key (created = false).
  absl::StatusOr<RunInsert> CreateRun(RunRecord run);
  // Replaces state and payload; ABORTED once the stored run has finished.
  absl::StatusOr<RunRecord> UpdateRun(RunRecord run);
  absl::StatusOr<RunRecord> GetRun(int64_t user_id, int64_t id);
  absl::StatusOr<RunPage> ListRuns(const ListRunsParams& params);

 private:
  StorageAdapter& adapter_;
  const PageTokenCodec& page_tokens_;
  const Clock& clock_;
};

}  // namespace spine::storage
