// RunStore: where the TaskEngine keeps runs (spine-storage's run records, in production), written
// at every transition so a run survives a crash of spine-tasks. The seam between the engine and
// gRPC: StorageRunStore is the real one, tests use a fake.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "spine/v1/tasks.pb.h"

namespace spine::tasks {

struct CreatedRun {
  spine::v1::RunState state;  // with its id
  bool created = false;       // false: the idempotency key named an existing run, returned as is
};

class RunStore {
 public:
  virtual ~RunStore() = default;
  // Stores a new run (its id is assigned here), or returns the run the same user created with
  // the same non-empty `idempotency_key`.
  virtual absl::StatusOr<CreatedRun> Create(const spine::v1::RunState& state,
                                            const std::string& idempotency_key) = 0;
  // Replaces the stored run. ABORTED once the stored run is finished (it never changes again).
  virtual absl::Status Update(const spine::v1::RunState& state) = 0;
  // NOT_FOUND for another user's run.
  virtual absl::StatusOr<spine::v1::RunState> Get(int64_t user_id, int64_t id) = 0;
  // Every run not yet finished, of every user (recovery after a restart).
  virtual absl::StatusOr<std::vector<spine::v1::RunState>> ListUnfinished() = 0;
};

}  // namespace spine::tasks
