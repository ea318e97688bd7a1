// LlmService: the gRPC face of the RunnerPool (llm.proto's LlmService; issue 7, "LlmGateway"):
// caller identity, validation of the request, the deadline, and the mapping of the pool's
// results and errors to replies. It holds no logic of its own.
//
// Every method uses the callback API: a generation can wait in a model's queue for minutes, and
// no thread may wait with it. Generate and StreamGenerate submit a job to the pool and finish the
// call from the pool's `done` callback; when the client goes away or its deadline passes
// (the reactor's OnCancel), the job is cancelled, so a queued job leaves the queue at once and a
// running one is aborted. A call is finished only after its job's `done` has run, so the pool
// never calls back into a finished call.
//
// Thread-safe. `pool` and `authenticator` must outlive the server the service is registered
// with; the server must be shut down before the pool is destroyed.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/rpc/caller.h"
#include "services/llm/backends/backend.h"
#include "services/llm/generation_admission.h"
#include "services/llm/runner_pool.h"
#include "spine/v1/llm.grpc.pb.h"

namespace spine::llm {

// Bounds on what a generate request may ask for.
struct LlmLimits {
  int64_t max_prompt_chars = 100000;  // prompt and system, each (SPINE_LLM_MAX_PROMPT_CHARS)
  int max_tokens_ceiling = 32768;     // largest max_tokens accepted
  absl::Duration max_timeout = absl::Minutes(10);  // largest timeout_ms accepted
};

// `status`, when it is a bare DEADLINE_EXCEEDED and the caller's `timeout_ms` (> 0) bounded the
// generation, as "generation exceeded timeoutMs N" with reason GENERATION_TIMEOUT (metadata model,
// timeoutMs); any other status unchanged.
absl::Status NameGenerationTimeout(absl::Status status, const std::string& model,
                                   int32_t timeout_ms);

class LlmService final : public spine::v1::LlmService::CallbackService {
 public:
  // `admission` runs the generations (the user's limits, the pool, the audit); `authenticator`
  // admits any signed-in user. Both are borrowed.
  LlmService(GenerationAdmission& admission, const rpc::Authenticator& authenticator,
             LlmLimits limits)
      : admission_(admission), authenticator_(authenticator), limits_(limits) {}

  // The configured models with their live queued and running counts.
  grpc::ServerUnaryReactor* ListModels(grpc::CallbackServerContext* context,
                                       const spine::v1::ListModelsRequest* request,
                                       spine::v1::ListModelsResponse* response) override;
  // One generation, answered when it ends. NOT_FOUND (MODEL_NOT_FOUND) for an unknown model,
  // INVALID_ARGUMENT for a request out of bounds (PROMPT_TOO_LONG for the prompt's or system's
  // size), RESOURCE_EXHAUSTED (QUEUE_FULL, with the retry hint) when the model's queue is full,
  // DEADLINE_EXCEEDED when the deadline passes, CANCELLED when the client left, and the backend's
  // own errors (UNAVAILABLE, ...) as they are. RESOURCE_EXHAUSTED (USER_CONCURRENCY_LIMIT,
  // USER_RATE_LIMIT) over the caller's own limits. Every request that passed authentication is
  // audited, refused or not.
  grpc::ServerUnaryReactor* Generate(grpc::CallbackServerContext* context,
                                     const spine::v1::GenerateRequest* request,
                                     spine::v1::GenerateResponse* response) override;
  // As Generate, streamed: one event per text delta, then one `done` event with the whole
  // response, then OK. An error before anything was written ends the call with that error; an
  // error after some deltas ends it with the error once those are written.
  grpc::ServerWriteReactor<spine::v1::GenerateStreamEvent>* StreamGenerate(
      grpc::CallbackServerContext* context, const spine::v1::GenerateRequest* request) override;

  // The pool job a request describes, checked against `limits` and the pool's models, with the
  // deadline the earlier of `rpc_deadline` and now + timeout_ms. Exposed for the tests.
  static absl::StatusOr<GenerateParams> Validate(const spine::v1::GenerateRequest& request,
                                                 const RunnerPool& pool, const LlmLimits& limits,
                                                 absl::Time rpc_deadline);

 private:
  class GenerateReactor;
  class StreamReactor;

  // Audits a request refused before it reached the pool.
  void AuditRefused(const char* action, const rpc::Caller& caller,
                    const spine::v1::GenerateRequest& request, const absl::Status& status) const;

  GenerationAdmission& admission_;
  const rpc::Authenticator& authenticator_;
  const LlmLimits limits_;
};

}  // namespace spine::llm
