#include "services/tasks/pipeline_service.h"

#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "libs/core/status.h"
#include "libs/core/utf8.h"
#include "libs/rpc/status_convert.h"

namespace spine::tasks {

absl::StatusOr<int64_t> CallerUserId(const rpc::Authenticator& authenticator,
                                     const grpc::ServerContextBase& context) {
  SPINE_ASSIGN_OR_RETURN(rpc::Caller caller, authenticator.Authenticate(context));
  int64_t user_id = 0;
  if (!absl::SimpleAtoi(caller.user_id, &user_id) || user_id <= 0) {
    return absl::PermissionDeniedError("pipelines and runs belong to users");
  }
  return user_id;
}

grpc::Status PipelineService::CreatePipeline(grpc::ServerContext* context,
                                             const spine::v1::CreatePipelineRequest* request,
                                             spine::v1::Pipeline* response) {
  absl::StatusOr<int64_t> user = CallerUserId(authenticator_, *context);
  if (!user.ok()) return rpc::ToGrpcStatus(user.status());
  const size_t name_chars = CheckUtf8(request->name()).code_points;
  if (name_chars < 1 || name_chars > 128) {
    return rpc::ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrCat("name: ", name_chars, " characters, must be 1..128")));
  }
  absl::StatusOr<spine::v1::PipelineDefinitionV1> parsed =
      ParsePipelineDefinition(request->definition(), &catalog_);
  if (!parsed.ok()) return rpc::ToGrpcStatus(parsed.status());
  if (request->validate_only()) {
    response->set_name(request->name());
    *response->mutable_definition() = request->definition();
    return grpc::Status::OK;
  }
  // Stored as the user wrote it; the defaults are filled in each time it runs.
  absl::StatusOr<spine::v1::Pipeline> created =
      store_.Create(*user, request->name(), request->definition());
  if (!created.ok()) return rpc::ToGrpcStatus(created.status());
  *response = *std::move(created);
  return grpc::Status::OK;
}

grpc::Status PipelineService::ListPipelines(grpc::ServerContext* context,
                                            const spine::v1::ListPipelinesRequest* request,
                                            spine::v1::ListPipelinesResponse* response) {
  absl::StatusOr<int64_t> user = CallerUserId(authenticator_, *context);
  if (!user.ok()) return rpc::ToGrpcStatus(user.status());
  absl::StatusOr<PipelinePage> page =
      store_.List(*user, request->page_size(), request->page_token());
  if (!page.ok()) return rpc::ToGrpcStatus(page.status());
  for (spine::v1::Pipeline& pipeline : page->pipelines) {
    *response->add_pipelines() = std::move(pipeline);
  }
  response->set_next_page_token(page->next_page_token);
  return grpc::Status::OK;
}

grpc::Status PipelineService::GetPipeline(grpc::ServerContext* context,
                                          const spine::v1::GetPipelineRequest* request,
                                          spine::v1::Pipeline* response) {
  absl::StatusOr<int64_t> user = CallerUserId(authenticator_, *context);
  if (!user.ok()) return rpc::ToGrpcStatus(user.status());
  absl::StatusOr<spine::v1::Pipeline> pipeline = store_.Get(*user, request->id());
  if (!pipeline.ok()) return rpc::ToGrpcStatus(pipeline.status());
  *response = *std::move(pipeline);
  return grpc::Status::OK;
}

grpc::Status PipelineService::DeletePipeline(grpc::ServerContext* context,
                                             const spine::v1::DeletePipelineRequest* request,
                                             google::protobuf::Empty* /*response*/) {
  absl::StatusOr<int64_t> user = CallerUserId(authenticator_, *context);
  if (!user.ok()) return rpc::ToGrpcStatus(user.status());
  return rpc::ToGrpcStatus(store_.Delete(*user, request->id()));
}

}  // namespace spine::tasks
