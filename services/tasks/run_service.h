// RunService: the gRPC face of runs (tasks.proto; API.md "Pipelines and runs"): start a stored
// pipeline or a one-off definition on the TaskEngine, get, list, cancel.
//
// The two creating methods use the callback API: with waitMs they wait for the run to end (up to
// 60 s) and no thread may wait with them. A run that ended within waitMs is answered with the
// initial metadata `x-spine-http-status: 200`, which the gateway turns into 200 instead of the
// route's 202 (API.md). Thread-safe; everything borrowed must outlive the server.
#pragma once

#include "libs/rpc/caller.h"
#include "services/tasks/engine/task_engine.h"
#include "services/tasks/pipeline/pipeline_definition.h"
#include "services/tasks/store/pipeline_store.h"
#include "services/tasks/store/storage_run_store.h"
#include "spine/v1/tasks.grpc.pb.h"

namespace spine::tasks {

using RunServiceBase = spine::v1::RunService::WithCallbackMethod_CreatePipelineRun<
    spine::v1::RunService::WithCallbackMethod_CreateRun<spine::v1::RunService::Service>>;

// The initial metadata by which a service tells the gateway which 2xx to answer.
inline constexpr char kHttpStatusHeader[] = "x-spine-http-status";

class RunService final : public RunServiceBase {
 public:
  RunService(TaskEngine& engine, StorageRunStore& runs, PipelineStore& pipelines,
             const CapabilityCatalog& catalog, const rpc::Authenticator& authenticator)
      : engine_(engine),
        runs_(runs),
        pipelines_(pipelines),
        catalog_(catalog),
        authenticator_(authenticator) {}

  grpc::ServerUnaryReactor* CreatePipelineRun(grpc::CallbackServerContext* context,
                                              const spine::v1::CreatePipelineRunRequest* request,
                                              spine::v1::Run* response) override;
  grpc::ServerUnaryReactor* CreateRun(grpc::CallbackServerContext* context,
                                      const spine::v1::CreateRunRequest* request,
                                      spine::v1::Run* response) override;
  grpc::Status GetRun(grpc::ServerContext* context, const spine::v1::GetRunRequest* request,
                      spine::v1::Run* response) override;
  grpc::Status ListRuns(grpc::ServerContext* context, const spine::v1::ListRunsRequest* request,
                        spine::v1::ListRunsResponse* response) override;
  grpc::Status CancelRun(grpc::ServerContext* context, const spine::v1::CancelRunRequest* request,
                         spine::v1::Run* response) override;

 private:
  // Submits `definition` for the caller and finishes `context`'s call, now or after waitMs.
  grpc::ServerUnaryReactor* Start(grpc::CallbackServerContext* context, int64_t user_id,
                                  int64_t pipeline_id, const google::protobuf::Struct& definition,
                                  const google::protobuf::Value& input,
                                  std::optional<int32_t> wait_ms,
                                  const std::string& idempotency_key, spine::v1::Run* response);

  TaskEngine& engine_;
  StorageRunStore& runs_;
  PipelineStore& pipelines_;
  const CapabilityCatalog& catalog_;
  const rpc::Authenticator& authenticator_;
};

}  // namespace spine::tasks
