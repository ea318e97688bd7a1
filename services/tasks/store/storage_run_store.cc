#include "services/tasks/store/storage_run_store.h"

#include "absl/strings/str_cat.h"
#include "libs/rpc/channel.h"
#include "libs/rpc/status_convert.h"

namespace spine::tasks {
namespace {

using spine::v1::RunRecord;
using spine::v1::RunState;

RunRecord ToRecord(const RunState& state) {
  RunRecord record;
  record.set_id(state.run().id());
  record.set_user_id(state.user_id());
  record.set_pipeline_id(state.run().pipeline_id());
  record.set_state(spine::v1::Run::State_Name(state.run().state()));
  record.set_run(state.SerializeAsString());
  return record;
}

absl::StatusOr<RunState> FromRecord(const RunRecord& record) {
  RunState state;
  if (!state.ParseFromString(record.run())) {
    return absl::DataLossError(absl::StrCat("run ", record.id(), ": stored state is unreadable"));
  }
  // The record's id and owner are storage's; the payload may predate the id (Create).
  state.mutable_run()->set_id(record.id());
  state.set_user_id(record.user_id());
  return state;
}

}  // namespace

StorageRunStore::StorageRunStore(const std::shared_ptr<grpc::Channel>& storage,
                                 const std::string& service_token, absl::Duration deadline)
    : stub_(spine::v1::StorageService::NewStub(storage)),
      authorization_("Bearer " + service_token),
      deadline_(deadline) {}

std::unique_ptr<grpc::ClientContext> StorageRunStore::Context(Caller caller) const {
  auto context = rpc::MakeClientContext(deadline_);
  context->AddMetadata("authorization", authorization_);
  // The engine's own writes and its recovery wait, within the deadline, for a storage channel
  // still connecting or reconnecting, so that a run's next state rides out a storage restart. A
  // user's call does not: with storage down it is refused at once (503), not at its deadline.
  context->set_wait_for_ready(caller == Caller::kEngine);
  return context;
}

absl::StatusOr<CreatedRun> StorageRunStore::Create(const RunState& state,
                                                   const std::string& idempotency_key) {
  spine::v1::CreateRunRecordRequest request;
  *request.mutable_run() = ToRecord(state);
  request.mutable_run()->set_idempotency_key(idempotency_key);
  spine::v1::CreateRunRecordResponse response;
  const grpc::Status status =
      stub_->CreateRunRecord(Context(Caller::kUser).get(), request, &response);
  if (!status.ok()) return rpc::FromGrpcStatus(status);
  absl::StatusOr<RunState> stored = FromRecord(response.run());
  if (!stored.ok()) return stored.status();
  return CreatedRun{.state = *std::move(stored), .created = response.created()};
}

absl::Status StorageRunStore::Update(const RunState& state) {
  spine::v1::UpdateRunRecordRequest request;
  *request.mutable_run() = ToRecord(state);
  RunRecord response;
  return rpc::FromGrpcStatus(
      stub_->UpdateRunRecord(Context(Caller::kEngine).get(), request, &response));
}

absl::StatusOr<RunState> StorageRunStore::Get(int64_t user_id, int64_t id) {
  spine::v1::GetRunRecordRequest request;
  request.set_user_id(user_id);
  request.set_id(id);
  RunRecord record;
  const grpc::Status status = stub_->GetRunRecord(Context(Caller::kUser).get(), request, &record);
  if (!status.ok()) return rpc::FromGrpcStatus(status);
  return FromRecord(record);
}

absl::StatusOr<std::vector<RunState>> StorageRunStore::ListUnfinished() {
  std::vector<RunState> runs;
  spine::v1::ListRunRecordsRequest request;
  request.add_unfinished_states("QUEUED");
  request.add_unfinished_states("RUNNING");
  request.set_page_size(500);
  while (true) {
    spine::v1::ListRunRecordsResponse response;
    const grpc::Status status =
        stub_->ListRunRecords(Context(Caller::kEngine).get(), request, &response);
    if (!status.ok()) return rpc::FromGrpcStatus(status);
    for (const RunRecord& record : response.runs()) {
      absl::StatusOr<RunState> state = FromRecord(record);
      if (!state.ok()) return state.status();
      runs.push_back(*std::move(state));
    }
    if (response.next_page_token().empty()) return runs;
    request.set_page_token(response.next_page_token());
  }
}

absl::StatusOr<RunPage> StorageRunStore::List(int64_t user_id, int64_t pipeline_id,
                                              const std::string& state, int page_size,
                                              const std::string& page_token) {
  spine::v1::ListRunRecordsRequest request;
  request.set_user_id(user_id);
  request.set_pipeline_id(pipeline_id);
  request.set_state(state);
  request.set_page_size(page_size);
  request.set_page_token(page_token);
  spine::v1::ListRunRecordsResponse response;
  const grpc::Status status =
      stub_->ListRunRecords(Context(Caller::kUser).get(), request, &response);
  if (!status.ok()) return rpc::FromGrpcStatus(status);
  RunPage page{.next_page_token = response.next_page_token()};
  for (const RunRecord& record : response.runs()) {
    absl::StatusOr<RunState> run = FromRecord(record);
    if (!run.ok()) return run.status();
    page.runs.push_back(run->run());
  }
  return page;
}

}  // namespace spine::tasks
