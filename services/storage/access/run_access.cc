#include "services/storage/access/run_access.h"

#include <array>

#include "absl/algorithm/container.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libs/core/status.h"
#include "services/storage/access/field_checks.h"
#include "services/storage/error_reasons.h"
#include "services/storage/paging.h"

namespace spine::storage {
namespace {

constexpr size_t kMaxIdempotencyKeyChars = 128;
constexpr size_t kMaxRunPayloadBytes = size_t{4} << 20;

constexpr char kRunNotFound[] = "RUN_NOT_FOUND";

constexpr std::array<const char*, 5> kRunStates = {"QUEUED", "RUNNING", "SUCCEEDED", "FAILED",
                                                   "CANCELLED"};
// A run in one of these never changes again.
const std::vector<std::string>& FinalRunStates() {
  static const std::vector<std::string> states = {"SUCCEEDED", "FAILED", "CANCELLED"};
  return states;
}

absl::Status CheckRunState(absl::string_view field, absl::string_view state) {
  if (absl::c_find(kRunStates, state) == kRunStates.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": '", state.substr(0, 32), "', must be one of ", absl::StrJoin(kRunStates, ", ")));
  }
  return absl::OkStatus();
}

absl::Status CheckPipelineId(int64_t pipeline_id) {
  if (pipeline_id < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("pipelineId: ", pipeline_id, " is not a pipeline id"));
  }
  return absl::OkStatus();
}

absl::Status CheckRun(const RunRecord& run) {
  SPINE_RETURN_IF_ERROR(CheckOwner(run.user_id));
  SPINE_RETURN_IF_ERROR(CheckPipelineId(run.pipeline_id));
  SPINE_RETURN_IF_ERROR(CheckRunState("state", run.state));
  const bool key_ok =
      run.idempotency_key.size() <= kMaxIdempotencyKeyChars &&
      absl::c_all_of(run.idempotency_key, [](char c) { return c > 0x20 && c < 0x7f; });
  if (!key_ok) {
    return absl::InvalidArgumentError(
        "idempotencyKey: at most 128 printable ASCII characters without spaces");
  }
  return CheckBytes("run", run.payload, kMaxRunPayloadBytes);
}

// Page tokens are bound to the listing kind, the user and every filter.
std::string RunBinding(const ListRunsParams& params) {
  return absl::StrCat("runs\nuser=", params.user_id, "\npipeline=", params.pipeline_id,
                      "\nstate=", params.state,
                      "\nunfinished=", absl::StrJoin(params.unfinished_states, ","));
}

}  // namespace

absl::StatusOr<RunInsert> RunAccess::CreateRun(RunRecord run) {
  SPINE_RETURN_IF_ERROR(CheckRun(run));
  run.id = 0;
  run.create_micros = absl::ToUnixMicros(clock_.Now());
  run.update_micros = run.create_micros;
  return adapter_.InsertRun(run);
}

absl::StatusOr<RunRecord> RunAccess::UpdateRun(RunRecord run) {
  SPINE_RETURN_IF_ERROR(CheckRecordId("run", run.id));
  SPINE_RETURN_IF_ERROR(CheckRun(run));
  run.update_micros = absl::ToUnixMicros(clock_.Now());
  return WithNotFoundReason(adapter_.UpdateRun(run, FinalRunStates()), kRunNotFound);
}

absl::StatusOr<RunRecord> RunAccess::GetRun(int64_t user_id, int64_t id) {
  SPINE_RETURN_IF_ERROR(CheckOwner(user_id));
  SPINE_RETURN_IF_ERROR(CheckRecordId("run", id));
  return WithNotFoundReason(adapter_.GetRun(user_id, id), kRunNotFound);
}

absl::StatusOr<RunPage> RunAccess::ListRuns(const ListRunsParams& params) {
  RunQuery query{.user_id = params.user_id, .pipeline_id = params.pipeline_id};
  if (params.unfinished_states.empty()) {
    // Only recovery may look across users.
    SPINE_RETURN_IF_ERROR(CheckOwner(params.user_id));
  } else if (!params.state.empty()) {
    return absl::InvalidArgumentError("state: cannot be combined with unfinishedStates");
  }
  if (params.user_id < 0) return CheckOwner(params.user_id);
  SPINE_RETURN_IF_ERROR(CheckPipelineId(params.pipeline_id));
  if (!params.state.empty()) {
    SPINE_RETURN_IF_ERROR(CheckRunState("state", params.state));
    query.states = {params.state};
  }
  for (size_t i = 0; i < params.unfinished_states.size(); ++i) {
    SPINE_RETURN_IF_ERROR(
        CheckRunState(absl::StrCat("unfinishedStates[", i, "]"), params.unfinished_states[i]));
    query.states.push_back(params.unfinished_states[i]);
  }
  SPINE_ASSIGN_OR_RETURN(const int size, PageSize(params.page_size));
  SPINE_ASSIGN_OR_RETURN(
      PageOf<RunRecord> page,
      ReadPage<RunRecord>(std::move(query), size, params.page_token, page_tokens_,
                          RunBinding(params),
                          [this](const RunQuery& q) { return adapter_.ListRuns(q); }));
  return RunPage{std::move(page.rows), std::move(page.next_page_token)};
}

}  // namespace spine::storage
