#include "services/llm/llm_service.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <deque>
#include <limits>
#include <optional>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "libs/bus/cancellable_jobs.h"
#include "libs/core/utf8.h"
#include "libs/rpc/deadline.h"
#include "libs/rpc/error_info.h"
#include "libs/rpc/status_convert.h"

namespace spine::llm {
namespace {

using spine::v1::GenerateRequest;
using spine::v1::GenerateResponse;
using spine::v1::GenerateStreamEvent;

// Deltas a stream holds while a write is in flight; beyond this the newest ones are merged into
// the last queued event, so a slow reader costs memory in proportion to the reply, not in events.
constexpr size_t kMaxQueuedEvents = 64;

absl::Status CheckSize(const char* field, const std::string& text, int64_t limit) {
  // Characters are code points; proto3 has already checked that the text is UTF-8.
  const auto chars = static_cast<int64_t>(CheckUtf8(text).code_points);
  if (chars <= limit) return absl::OkStatus();
  return rpc::WithErrorInfo(
      absl::InvalidArgumentError(absl::StrCat(field, ": ", chars, " characters, at most ", limit)),
      "PROMPT_TOO_LONG");
}

int32_t ClampedMillis(absl::Duration duration) {
  const int64_t millis = absl::ToInt64Milliseconds(duration);
  return static_cast<int32_t>(std::clamp<int64_t>(millis, 0, std::numeric_limits<int32_t>::max()));
}

void ToResponse(const std::string& model, const JobResult& job, GenerateResponse* out) {
  const GenerateResult& result = *job.result;
  out->set_text(result.text);
  out->set_model(model);
  out->set_finish_reason(result.finish_reason);
  out->set_prompt_tokens(result.prompt_tokens);
  out->set_completion_tokens(result.completion_tokens);
  out->set_queue_wait_ms(ClampedMillis(job.queue_wait));
  out->set_duration_ms(ClampedMillis(job.run_duration));
}

// Whether an OnCancel is the call's deadline rather than the client leaving. The pool holds the
// same (or an earlier) deadline and ends the job itself as DEADLINE_EXCEEDED, within
// milliseconds; cancelling it here instead would make it CANCELLED in the audit log. gRPC may
// report the deadline a moment before absl::Now() reaches it, hence the margin.
bool DeadlineReached(absl::Time deadline) {
  return absl::Now() >= deadline - absl::Milliseconds(5);
}

// The caller's timeoutMs when it, not the RPC's deadline, bounds the generation; else 0.
int32_t CallerTimeoutMs(const GenerateRequest& request, absl::Time rpc_deadline) {
  if (!request.has_timeout_ms() ||
      absl::Now() + absl::Milliseconds(request.timeout_ms()) > rpc_deadline) {
    return 0;
  }
  return request.timeout_ms();
}

}  // namespace

absl::Status NameGenerationTimeout(absl::Status status, const std::string& model,
                                   int32_t timeout_ms) {
  if (!absl::IsDeadlineExceeded(status) || timeout_ms <= 0 || rpc::GetErrorInfo(status)) {
    return status;
  }
  return rpc::WithErrorInfo(
      absl::DeadlineExceededError(absl::StrCat("generation exceeded timeoutMs ", timeout_ms)),
      kGenerationTimeout, {{"model", model}, {"timeoutMs", absl::StrCat(timeout_ms)}});
}

absl::StatusOr<GenerateParams> LlmService::Validate(const GenerateRequest& request,
                                                    const RunnerPool& pool, const LlmLimits& limits,
                                                    absl::Time rpc_deadline) {
  const auto& models = pool.models();
  if (std::none_of(models.begin(), models.end(),
                   [&](const ModelConfig& model) { return model.name == request.model(); })) {
    return rpc::WithErrorInfo(
        absl::NotFoundError(absl::StrCat("model '", request.model().substr(0, 64), "' not found")),
        "MODEL_NOT_FOUND");
  }
  if (request.prompt().empty()) return absl::InvalidArgumentError("prompt: must not be empty");
  if (absl::Status size = CheckSize("prompt", request.prompt(), limits.max_prompt_chars);
      !size.ok()) {
    return size;
  }
  if (absl::Status size = CheckSize("system", request.system(), limits.max_prompt_chars);
      !size.ok()) {
    return size;
  }
  if (request.has_max_tokens() &&
      (request.max_tokens() < 1 || request.max_tokens() > limits.max_tokens_ceiling)) {
    return absl::InvalidArgumentError(absl::StrCat("maxTokens: ", request.max_tokens(),
                                                   ", must be 1..", limits.max_tokens_ceiling));
  }
  // Written so that NaN fails too.
  if (request.has_temperature() && !(request.temperature() >= 0 && request.temperature() <= 2)) {
    return absl::InvalidArgumentError(
        absl::StrCat("temperature: ", request.temperature(), ", must be 0..2"));
  }
  const int64_t max_timeout_ms = absl::ToInt64Milliseconds(limits.max_timeout);
  if (request.has_timeout_ms() &&
      (request.timeout_ms() < 1 || request.timeout_ms() > max_timeout_ms)) {
    return absl::InvalidArgumentError(
        absl::StrCat("timeoutMs: ", request.timeout_ms(), ", must be 1..", max_timeout_ms));
  }

  GenerateParams params;
  if (!request.system().empty()) params.messages.push_back({"system", request.system()});
  params.messages.push_back({"user", request.prompt()});
  if (request.has_max_tokens()) params.max_tokens = request.max_tokens();
  if (request.has_temperature()) params.temperature = request.temperature();
  params.deadline = rpc_deadline;
  if (request.has_timeout_ms()) {
    params.deadline =
        std::min(params.deadline, absl::Now() + absl::Milliseconds(request.timeout_ms()));
  }
  return params;
}

// A unary Generate call: submits the job, finishes from its `done`, cancels it on OnCancel.
class LlmService::GenerateReactor final : public grpc::ServerUnaryReactor {
 public:
  // Submits the job; when the pool refuses it the call is finished with the pool's error.
  void Start(GenerationAdmission& admission, std::string user_id, GenerateParams params,
             const std::string& model, int32_t timeout_ms, const std::string& request_id,
             GenerateResponse* response) {
    {
      absl::MutexLock lock(&mu_);
      deadline_ = params.deadline;
    }
    JobRequest job{.model = model, .user_id = std::move(user_id), .params = std::move(params)};
    // The response stays valid until Finish; nothing touches the reactor after Finish.
    job.on_done = [this, response, model, timeout_ms](const JobResult& result) {
      if (!result.result.ok()) {
        return Finish(
            rpc::ToGrpcStatus(NameGenerationTimeout(result.result.status(), model, timeout_ms)));
      }
      ToResponse(model, result, response);
      Finish(grpc::Status::OK);
    };
    absl::StatusOr<JobHandle> handle =
        admission.Submit(std::move(job), {.action = "llm.generate", .request_id = request_id});
    if (!handle.ok()) return Finish(rpc::ToGrpcStatus(handle.status()));
    stop_.Attach([handle = *std::move(handle)] { handle.Cancel(); });
  }

  // The client left or its deadline passed: the job's `done` follows with CANCELLED (or its
  // result, if it was ending anyway) and finishes the call.
  void OnCancel() override {
    {
      absl::MutexLock lock(&mu_);
      if (DeadlineReached(deadline_)) return;
    }
    stop_.Cancel();
  }

  void OnDone() override { delete this; }

 private:
  absl::Mutex mu_;
  absl::Time deadline_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  bus::PendingCancel stop_;  // the job, once submitted
};

// A StreamGenerate call. Deltas and the final event are queued and written one at a time (gRPC
// allows one outstanding write); the call is finished once the job has ended and the queue is
// written out. gRPC may run a reaction inline in StartWrite or Finish, so those are called
// without the lock held.
//
// Two owners: gRPC (until OnDone) and the job (until its `done` has returned). The job's threads
// call in from outside gRPC's reactions, so gRPC alone must not delete the reactor: once the job
// has set its final status, a write completing on a gRPC thread may finish the call and reach
// OnDone while the job's thread is still in Pump. The last owner to let go deletes it.
class LlmService::StreamReactor final : public grpc::ServerWriteReactor<GenerateStreamEvent> {
 public:
  StreamReactor(std::string model, int32_t timeout_ms)
      : model_(std::move(model)), timeout_ms_(timeout_ms) {}

  // Finishes a call that never submitted a job (so the job's ownership ends here).
  void Reject(const absl::Status& status) {
    Finish(rpc::ToGrpcStatus(status));
    Release();
  }

  void Start(GenerationAdmission& admission, std::string user_id, GenerateParams params,
             const std::string& request_id) {
    {
      absl::MutexLock lock(&mu_);
      deadline_ = params.deadline;
    }
    JobRequest job{.model = model_, .user_id = std::move(user_id), .params = std::move(params)};
    job.on_delta = [this](absl::string_view delta) { OnDelta(delta); };
    job.on_done = [this](const JobResult& result) { OnJobDone(result); };
    absl::StatusOr<JobHandle> handle =
        admission.Submit(std::move(job), {.action = "llm.stream", .request_id = request_id});
    if (!handle.ok()) return Reject(handle.status());
    stop_.Attach([handle = *std::move(handle)] { handle.Cancel(); });
  }

  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok) {
        // The stream is broken (the client left): nothing more can be written.
        broken_ = true;
        queue_.clear();
      }
    }
    if (!ok) CancelJob();
    Pump();
  }

  void OnCancel() override {
    {
      absl::MutexLock lock(&mu_);
      if (DeadlineReached(deadline_)) return;
    }
    CancelJob();
  }

  void OnDone() override { Release(); }

 private:
  void Release() {
    if (owners_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  void OnDelta(absl::string_view delta) {
    {
      absl::MutexLock lock(&mu_);
      if (broken_) return;
      if (queue_.size() >= kMaxQueuedEvents) {
        queue_.back().mutable_delta()->append(delta.data(), delta.size());
        return;
      }
      queue_.emplace_back().set_delta(std::string(delta));
    }
    Pump();
  }

  void OnJobDone(const JobResult& result) {
    {
      absl::MutexLock lock(&mu_);
      if (result.result.ok()) {
        if (!broken_) ToResponse(model_, result, queue_.emplace_back().mutable_done());
        final_status_ = grpc::Status::OK;
      } else {
        final_status_ =
            rpc::ToGrpcStatus(NameGenerationTimeout(result.result.status(), model_, timeout_ms_));
      }
    }
    Pump();
    Release();  // the job's last call
  }

  // Starts the next write, or finishes the call once the job has ended and nothing is left.
  void Pump() {
    std::optional<grpc::Status> finish;
    {
      absl::MutexLock lock(&mu_);
      if (writing_ || finished_) return;
      if (!queue_.empty()) {
        current_ = std::move(queue_.front());
        queue_.pop_front();
        writing_ = true;
      } else if (final_status_) {
        finished_ = true;
        finish = *final_status_;
      } else {
        return;
      }
    }
    // Only the thread that set writing_ touches current_ until OnWriteDone.
    if (finish) return Finish(*finish);
    StartWrite(&current_);
  }

  void CancelJob() { stop_.Cancel(); }

  const std::string model_;
  const int32_t timeout_ms_;  // the caller's timeoutMs, when it bounds the generation
  absl::Mutex mu_;
  absl::Time deadline_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  bus::PendingCancel stop_;  // the job, once submitted
  std::deque<GenerateStreamEvent> queue_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  // Set when the job's `done` has run; the call is finished with it.
  std::optional<grpc::Status> final_status_ ABSL_GUARDED_BY(mu_);
  GenerateStreamEvent current_;  // the event being written
  std::atomic<int> owners_{2};   // gRPC's and the job's (see the class comment)
};

void LlmService::AuditRefused(const char* action, const rpc::Caller& caller,
                              const GenerateRequest& request, const absl::Status& status) const {
  // Sizes only: a refused prompt may be far over the limit, and is not kept even in full mode.
  PromptSummary prompt;
  prompt.messages = request.system().empty() ? 1 : 2;
  prompt.prompt_chars = static_cast<int64_t>(CheckUtf8(request.prompt()).code_points);
  prompt.system_chars = static_cast<int64_t>(CheckUtf8(request.system()).code_points);
  admission_.audit().RecordRefused({.action = action,
                                    .user_id = caller.user_id,
                                    .model = request.model().substr(0, 64),
                                    .request_id = caller.request_id},
                                   prompt, status);
}

grpc::ServerUnaryReactor* LlmService::ListModels(grpc::CallbackServerContext* context,
                                                 const spine::v1::ListModelsRequest* /*request*/,
                                                 spine::v1::ListModelsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (auto caller = authenticator_.Authenticate(*context); !caller.ok()) {
    reactor->Finish(rpc::ToGrpcStatus(caller.status()));
    return reactor;
  }
  for (const ModelStats& stats : admission_.pool().Stats()) {
    spine::v1::Model* model = response->add_models();
    model->set_name(stats.name);
    model->set_backend(stats.backend);
    model->set_max_concurrency(stats.max_concurrency);
    model->set_queue_limit(stats.queue_limit);
    model->set_queued(stats.queued);
    model->set_running(stats.running);
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* LlmService::Generate(grpc::CallbackServerContext* context,
                                               const GenerateRequest* request,
                                               GenerateResponse* response) {
  // gRPC's callback API owns reactors this way: created here, deleted in OnDone.
  auto* reactor = new GenerateReactor();
  absl::StatusOr<rpc::Caller> caller = authenticator_.Authenticate(*context);
  if (!caller.ok()) {
    reactor->Finish(rpc::ToGrpcStatus(caller.status()));
    return reactor;
  }
  absl::StatusOr<GenerateParams> params =
      Validate(*request, admission_.pool(), limits_, rpc::DeadlineOf(*context));
  if (!params.ok()) {
    AuditRefused("llm.generate", *caller, *request, params.status());
    reactor->Finish(rpc::ToGrpcStatus(params.status()));
    return reactor;
  }
  reactor->Start(admission_, std::move(caller->user_id), *std::move(params), request->model(),
                 CallerTimeoutMs(*request, rpc::DeadlineOf(*context)), caller->request_id,
                 response);
  return reactor;
}

grpc::ServerWriteReactor<GenerateStreamEvent>* LlmService::StreamGenerate(
    grpc::CallbackServerContext* context, const GenerateRequest* request) {
  // Created here, deleted in OnDone, as with Generate.
  auto* reactor =
      new StreamReactor(request->model(), CallerTimeoutMs(*request, rpc::DeadlineOf(*context)));
  absl::StatusOr<rpc::Caller> caller = authenticator_.Authenticate(*context);
  if (!caller.ok()) {
    reactor->Reject(caller.status());
    return reactor;
  }
  absl::StatusOr<GenerateParams> params =
      Validate(*request, admission_.pool(), limits_, rpc::DeadlineOf(*context));
  if (!params.ok()) {
    AuditRefused("llm.stream", *caller, *request, params.status());
    reactor->Reject(params.status());
    return reactor;
  }
  reactor->Start(admission_, std::move(caller->user_id), *std::move(params), caller->request_id);
  return reactor;
}

}  // namespace spine::llm
