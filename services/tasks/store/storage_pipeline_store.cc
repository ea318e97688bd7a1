#include "services/tasks/store/storage_pipeline_store.h"

#include "libs/rpc/channel.h"
#include "libs/rpc/status_convert.h"

namespace spine::tasks {
namespace {

spine::v1::Pipeline FromRecord(const spine::v1::PipelineRecord& record) {
  spine::v1::Pipeline pipeline;
  pipeline.set_id(record.id());
  pipeline.set_name(record.name());
  *pipeline.mutable_definition() = record.definition();
  *pipeline.mutable_create_time() = record.create_time();
  return pipeline;
}

}  // namespace

StoragePipelineStore::StoragePipelineStore(const std::shared_ptr<grpc::Channel>& storage,
                                           const std::string& service_token,
                                           absl::Duration deadline)
    : stub_(spine::v1::StorageService::NewStub(storage)),
      authorization_("Bearer " + service_token),
      deadline_(deadline) {}

std::unique_ptr<grpc::ClientContext> StoragePipelineStore::Context() const {
  auto context = rpc::MakeClientContext(deadline_);
  context->AddMetadata("authorization", authorization_);
  // Every call here is a user's: with storage down it is refused at once (503), not left to
  // wait out its deadline (no wait_for_ready).
  return context;
}

absl::StatusOr<spine::v1::Pipeline> StoragePipelineStore::Create(
    int64_t user_id, const std::string& name, const google::protobuf::Struct& definition) {
  spine::v1::CreatePipelineRecordRequest request;
  request.set_user_id(user_id);
  request.set_name(name);
  *request.mutable_definition() = definition;
  spine::v1::PipelineRecord record;
  const grpc::Status status = stub_->CreatePipelineRecord(Context().get(), request, &record);
  if (!status.ok()) return rpc::FromGrpcStatus(status);
  return FromRecord(record);
}

absl::StatusOr<spine::v1::Pipeline> StoragePipelineStore::Get(int64_t user_id, int64_t id) {
  spine::v1::GetPipelineRecordRequest request;
  request.set_user_id(user_id);
  request.set_id(id);
  spine::v1::PipelineRecord record;
  const grpc::Status status = stub_->GetPipelineRecord(Context().get(), request, &record);
  if (!status.ok()) return rpc::FromGrpcStatus(status);
  return FromRecord(record);
}

absl::StatusOr<PipelinePage> StoragePipelineStore::List(int64_t user_id, int page_size,
                                                        const std::string& page_token) {
  spine::v1::ListPipelineRecordsRequest request;
  request.set_user_id(user_id);
  request.set_page_size(page_size);
  request.set_page_token(page_token);
  spine::v1::ListPipelineRecordsResponse response;
  const grpc::Status status = stub_->ListPipelineRecords(Context().get(), request, &response);
  if (!status.ok()) return rpc::FromGrpcStatus(status);
  PipelinePage page{.next_page_token = response.next_page_token()};
  for (const auto& record : response.pipelines()) page.pipelines.push_back(FromRecord(record));
  return page;
}

absl::Status StoragePipelineStore::Delete(int64_t user_id, int64_t id) {
  spine::v1::DeletePipelineRecordRequest request;
  request.set_user_id(user_id);
  request.set_id(id);
  google::protobuf::Empty empty;
  return rpc::FromGrpcStatus(stub_->DeletePipelineRecord(Context().get(), request, &empty));
}

}  // namespace spine::tasks
