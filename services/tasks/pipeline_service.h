// PipelineService: the gRPC face of stored pipelines (tasks.proto; API.md "Pipelines and runs"):
// create (the definition checked as ParsePipelineDefinition says, against what executors
// advertise), list, get, delete. Pipelines belong to the user who created them.
// Thread-safe; everything borrowed must outlive the server.
#pragma once

#include "libs/rpc/caller.h"
#include "services/tasks/pipeline/pipeline_definition.h"
#include "services/tasks/store/pipeline_store.h"
#include "spine/v1/tasks.grpc.pb.h"

namespace spine::tasks {

// The user id of a signed-in user's call; PERMISSION_DENIED for a token that is not a user's.
absl::StatusOr<int64_t> CallerUserId(const rpc::Authenticator& authenticator,
                                     const grpc::ServerContextBase& context);

class PipelineService final : public spine::v1::PipelineService::Service {
 public:
  PipelineService(PipelineStore& store, const CapabilityCatalog& catalog,
                  const rpc::Authenticator& authenticator)
      : store_(store), catalog_(catalog), authenticator_(authenticator) {}

  grpc::Status CreatePipeline(grpc::ServerContext* context,
                              const spine::v1::CreatePipelineRequest* request,
                              spine::v1::Pipeline* response) override;
  grpc::Status ListPipelines(grpc::ServerContext* context,
                             const spine::v1::ListPipelinesRequest* request,
                             spine::v1::ListPipelinesResponse* response) override;
  grpc::Status GetPipeline(grpc::ServerContext* context,
                           const spine::v1::GetPipelineRequest* request,
                           spine::v1::Pipeline* response) override;
  grpc::Status DeletePipeline(grpc::ServerContext* context,
                              const spine::v1::DeletePipelineRequest* request,
                              google::protobuf::Empty* response) override;

 private:
  PipelineStore& store_;
  const CapabilityCatalog& catalog_;
  const rpc::Authenticator& authenticator_;
};

}  // namespace spine::tasks
