// RunnerPool: per-model execution of generations (issue 7, "RunnerPool").
//
// Each model has `max_concurrency` runners and its own bounded queue of `queue_limit` jobs, so a
// slow model never delays another. Submit answers at once: the job starts on a free runner, waits
// in the model's queue, or is refused with RESOURCE_EXHAUSTED (reason QUEUE_FULL, a retry hint in
// the ErrorInfo metadata "retryAfterSeconds"). Within a model, queued jobs are dispatched fairly
// across users: the user served least recently goes first (a user with nothing queued so far goes
// before everyone already served), so one user's hundred queued prompts delay another user's first
// prompt by at most one job per runner. A queued job whose deadline passes is dropped without
// running (DEADLINE_EXCEEDED); a cancelled queued job leaves the queue at once; cancelling a
// running job cancels its backend generation, and its runner is freed when the backend reports
// `done` (within 100 ms by the Backend contract). A running job's deadline is the earlier of the
// caller's and the model's timeout from dispatch; the backend enforces it.
//
// Deadlines are on Clock::Now() (gRPC deadlines are wall-clock); queue waits and durations are
// measured on Clock::MonotonicNow().
//
// Thread-safety: every method may be called from any thread. Callbacks run on the backend's or the
// scheduler's threads, or (for deadlines that have already passed, and when the pool is destroyed)
// on the caller's, never with the pool's lock held; they must not block. The pool must outlive
// every JobHandle; destroying it fails queued jobs with CANCELLED, cancels running ones and waits
// for their backends' `done`.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/core/clock.h"
#include "libs/core/scheduler.h"
#include "services/llm/backends/backend.h"
#include "services/llm/model_config.h"

namespace spine::llm {

// How a job ended. `result` is the backend's answer, or the pool's error for a job that never ran
// (DEADLINE_EXCEEDED, CANCELLED).
struct JobResult {
  absl::StatusOr<GenerateResult> result = absl::UnknownError("not set");
  bool ran = false;                                  // it was dispatched to a runner
  absl::Duration queue_wait = absl::ZeroDuration();  // Submit to dispatch (or to its end if never)
  absl::Duration run_duration = absl::ZeroDuration();  // dispatch to done; zero if it never ran
};

struct JobRequest {
  std::string model{};
  std::string user_id{};                     // the unit of fairness
  GenerateParams params{};                   // backend_model is filled from the models file
  Backend::OnDelta on_delta{};               // may be empty
  std::function<void(JobResult)> on_done{};  // runs exactly once unless Submit fails
};

struct ModelStats {
  std::string name{};
  std::string backend{};
  int max_concurrency = 0;
  int queue_limit = 0;
  int queued = 0;
  int running = 0;
  absl::Duration oldest_queued_age = absl::ZeroDuration();  // zero when nothing is queued
};

class RunnerPool;

// DEADLINE_EXCEEDED of a generation whose own limit ran out: the caller's timeoutMs or the
// model's timeout from the models file.
inline constexpr char kGenerationTimeout[] = "GENERATION_TIMEOUT";

// A backend's error for a job of `model`, naming the model: its message prefixed "model 'x': "
// and its ErrorInfo given metadata "model". A bare DEADLINE_EXCEEDED is named only when the
// model's timeout came first (then "model 'x' exceeded its N ms timeout", GENERATION_TIMEOUT);
// CANCELLED is left alone.
absl::Status NameModel(absl::Status status, const ModelConfig& model, bool model_timeout_first);

// A submitted job. Copyable; must not outlive its pool. Dropping it does not cancel the job.
class JobHandle {
 public:
  // Cancels the job: see the class comment. No-op once it has ended; safe to call repeatedly.
  void Cancel() const;
  uint64_t id() const { return id_; }

 private:
  friend class RunnerPool;
  JobHandle(RunnerPool* pool, uint64_t id) : pool_(pool), id_(id) {}

  RunnerPool* pool_;
  uint64_t id_;
};

class RunnerPool {
 public:
  // `backends` maps each model's name to its backend (borrowed: they, `scheduler` and `clock` must
  // outlive the pool). INVALID_ARGUMENT for a model without a backend, a duplicate name or
  // non-positive limits.
  static absl::StatusOr<std::unique_ptr<RunnerPool>> Create(
      std::vector<ModelConfig> models, const std::map<std::string, Backend*>& backends,
      Scheduler& scheduler, const Clock& clock);

  RunnerPool(const RunnerPool&) = delete;
  RunnerPool& operator=(const RunnerPool&) = delete;
  ~RunnerPool();

  // Starts or queues the job. NOT_FOUND for an unknown model; RESOURCE_EXHAUSTED (QUEUE_FULL) when
  // the model's queue is full; DEADLINE_EXCEEDED when the deadline has already passed. On error
  // the callbacks are never called.
  absl::StatusOr<JobHandle> Submit(JobRequest request);

  // Live numbers per model, in the models file's order.
  std::vector<ModelStats> Stats() const;

  // The models as configured, in the models file's order.
  const std::vector<ModelConfig>& models() const { return models_; }

 private:
  friend class JobHandle;
  struct Job;
  struct Model;
  // What to do once the lock is released.
  struct Effects;

  RunnerPool(std::vector<ModelConfig> models, Scheduler& scheduler, const Clock& clock);

  void Cancel(uint64_t id);
  void OnDeadline(uint64_t id);
  void OnBackendDone(uint64_t id, absl::StatusOr<GenerateResult> result);

  // Takes `job` (queued in `model`) out of its user's queue.
  void Unqueue(Model& model, Job& job, Effects& effects) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves queued jobs to free runners, fairest first.
  void Dispatch(Model& model, Effects& effects) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Marks `job` running and records what starting it takes.
  void StartJob(Model& model, Job& job, Effects& effects) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes a job that never ran and records its on_done call.
  void FailQueued(Job& job, absl::Status status, Effects& effects)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Carries out `effects` without the lock, then ends the busy_ count its caller took.
  void Apply(Effects effects) ABSL_LOCKS_EXCLUDED(mu_);
  bool Drained() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status QueueFullError(const Model& model) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::vector<ModelConfig> models_;
  Scheduler& scheduler_;
  const Clock& clock_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<Model>> by_name_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, std::unique_ptr<Job>> jobs_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;  // orders users for fairness
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  // Calls between taking the lock and finishing Apply; the destructor waits for them.
  int busy_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace spine::llm
