#include "services/tasks/run_service.h"

#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/rpc/status_convert.h"
#include "services/tasks/pipeline_service.h"

namespace spine::tasks {
namespace {

constexpr int32_t kMaxWaitMs = 60000;

bool IsFinal(spine::v1::Run::State state) {
  return state == spine::v1::Run::SUCCEEDED || state == spine::v1::Run::FAILED ||
         state == spine::v1::Run::CANCELLED;
}

grpc::ServerUnaryReactor* Refuse(grpc::CallbackServerContext* context, const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(rpc::ToGrpcStatus(status));
  return reactor;
}

}  // namespace

grpc::ServerUnaryReactor* RunService::Start(
    grpc::CallbackServerContext* context, int64_t user_id, int64_t pipeline_id,
    const google::protobuf::Struct& definition, const google::protobuf::Value& input,
    std::optional<int32_t> wait_ms, const std::string& idempotency_key, spine::v1::Run* response) {
  if (wait_ms && (*wait_ms < 0 || *wait_ms > kMaxWaitMs)) {
    return Refuse(context, absl::InvalidArgumentError(
                               absl::StrCat("waitMs: ", *wait_ms, ", must be 0..", kMaxWaitMs)));
  }
  absl::StatusOr<spine::v1::PipelineDefinitionV1> parsed =
      ParsePipelineDefinition(definition, &catalog_);
  if (!parsed.ok()) return Refuse(context, parsed.status());
  absl::StatusOr<spine::v1::Run> run =
      engine_.Submit(user_id, pipeline_id, *std::move(parsed), input, idempotency_key);
  if (!run.ok()) return Refuse(context, run.status());

  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (!wait_ms || *wait_ms == 0 || IsFinal(run->state())) {
    if (IsFinal(run->state()) && wait_ms) context->AddInitialMetadata(kHttpStatusHeader, "200");
    *response = *std::move(run);
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  // Answered when the run ends or waitMs passes, whichever is first; gRPC keeps the call (and
  // `response`) alive until Finish.
  engine_.WhenFinished(user_id, run->id(), absl::Now() + absl::Milliseconds(*wait_ms),
                       [context, reactor, response](absl::StatusOr<spine::v1::Run> ended) {
                         if (!ended.ok()) return reactor->Finish(rpc::ToGrpcStatus(ended.status()));
                         if (IsFinal(ended->state())) {
                           context->AddInitialMetadata(kHttpStatusHeader, "200");
                         }
                         *response = *std::move(ended);
                         reactor->Finish(grpc::Status::OK);
                       });
  return reactor;
}

grpc::ServerUnaryReactor* RunService::CreatePipelineRun(
    grpc::CallbackServerContext* context, const spine::v1::CreatePipelineRunRequest* request,
    spine::v1::Run* response) {
  absl::StatusOr<int64_t> user = CallerUserId(authenticator_, *context);
  if (!user.ok()) return Refuse(context, user.status());
  if (request->idempotency_key().size() > 128) {
    return Refuse(context, absl::InvalidArgumentError("idempotencyKey: at most 128 characters"));
  }
  absl::StatusOr<spine::v1::Pipeline> pipeline = pipelines_.Get(*user, request->pipeline_id());
  if (!pipeline.ok()) return Refuse(context, pipeline.status());
  return Start(context, *user, pipeline->id(), pipeline->definition(), request->input(),
               request->has_wait_ms() ? std::optional<int32_t>(request->wait_ms()) : std::nullopt,
               request->idempotency_key(), response);
}

grpc::ServerUnaryReactor* RunService::CreateRun(grpc::CallbackServerContext* context,
                                                const spine::v1::CreateRunRequest* request,
                                                spine::v1::Run* response) {
  absl::StatusOr<int64_t> user = CallerUserId(authenticator_, *context);
  if (!user.ok()) return Refuse(context, user.status());
  return Start(context, *user, /*pipeline_id=*/0, request->definition(), request->input(),
               request->has_wait_ms() ? std::optional<int32_t>(request->wait_ms()) : std::nullopt,
               /*idempotency_key=*/"", response);
}

grpc::Status RunService::GetRun(grpc::ServerContext* context,
                                const spine::v1::GetRunRequest* request, spine::v1::Run* response) {
  absl::StatusOr<int64_t> user = CallerUserId(authenticator_, *context);
  if (!user.ok()) return rpc::ToGrpcStatus(user.status());
  absl::StatusOr<spine::v1::Run> run = engine_.Get(*user, request->id());
  if (!run.ok()) return rpc::ToGrpcStatus(run.status());
  *response = *std::move(run);
  return grpc::Status::OK;
}

grpc::Status RunService::ListRuns(grpc::ServerContext* context,
                                  const spine::v1::ListRunsRequest* request,
                                  spine::v1::ListRunsResponse* response) {
  absl::StatusOr<int64_t> user = CallerUserId(authenticator_, *context);
  if (!user.ok()) return rpc::ToGrpcStatus(user.status());
  spine::v1::Run::State state = spine::v1::Run::STATE_UNSPECIFIED;
  if (!request->state().empty() && (!spine::v1::Run::State_Parse(request->state(), &state) ||
                                    state == spine::v1::Run::STATE_UNSPECIFIED)) {
    return rpc::ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrCat("state: '", request->state().substr(0, 32),
                     "', must be QUEUED, RUNNING, SUCCEEDED, FAILED or CANCELLED")));
  }
  absl::StatusOr<RunPage> page = runs_.List(*user, request->pipeline_id(), request->state(),
                                            request->page_size(), request->page_token());
  if (!page.ok()) return rpc::ToGrpcStatus(page.status());
  for (spine::v1::Run& run : page->runs) *response->add_runs() = std::move(run);
  response->set_next_page_token(page->next_page_token);
  return grpc::Status::OK;
}

grpc::Status RunService::CancelRun(grpc::ServerContext* context,
                                   const spine::v1::CancelRunRequest* request,
                                   spine::v1::Run* response) {
  absl::StatusOr<int64_t> user = CallerUserId(authenticator_, *context);
  if (!user.ok()) return rpc::ToGrpcStatus(user.status());
  absl::StatusOr<spine::v1::Run> run = engine_.Cancel(*user, request->id());
  if (!run.ok()) return rpc::ToGrpcStatus(run.status());
  *response = *std::move(run);
  return grpc::Status::OK;
}

}  // namespace spine::tasks
