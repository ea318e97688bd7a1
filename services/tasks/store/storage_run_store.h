// StorageRunStore: the TaskEngine's RunStore over spine-storage's internal StorageService, with
// spine-tasks' service token. A run is stored as its RunState (RunRecord.run), with its state
// and pipeline beside it for storage's queries. Thread-safe; every call has a deadline.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "services/tasks/engine/run_store.h"
#include "spine/v1/storage.grpc.pb.h"

namespace spine::tasks {

struct RunPage {
  std::vector<spine::v1::Run> runs{};
  std::string next_page_token{};
};

class StorageRunStore final : public RunStore {
 public:
  // `service_token`: the JWT minted for spine-tasks (SPINE_SERVICE_TOKEN_FILE).
  StorageRunStore(const std::shared_ptr<grpc::Channel>& storage, const std::string& service_token,
                  absl::Duration deadline);

  absl::StatusOr<CreatedRun> Create(const spine::v1::RunState& state,
                                    const std::string& idempotency_key) override;
  absl::Status Update(const spine::v1::RunState& state) override;
  absl::StatusOr<spine::v1::RunState> Get(int64_t user_id, int64_t id) override;
  absl::StatusOr<std::vector<spine::v1::RunState>> ListUnfinished() override;

  // A page of the user's runs, newest first, as GET /api/runs lists them; `state` is a
  // Run.State name or empty.
  absl::StatusOr<RunPage> List(int64_t user_id, int64_t pipeline_id, const std::string& state,
                               int page_size, const std::string& page_token);

 private:
  // Who a call is for: a user waiting on an answer, or the engine (run updates, recovery).
  enum class Caller { kUser, kEngine };
  std::unique_ptr<grpc::ClientContext> Context(Caller caller) const;

  std::unique_ptr<spine::v1::StorageService::Stub> stub_;
  const std::string authorization_;
  const absl::Duration deadline_;
};

}  // namespace spine::tasks
