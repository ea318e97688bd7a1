// TaskEngine: runs pipeline runs step by step (issue 8, "TaskEngine"). It holds no executor: each
// attempt of a step is a StepJob handed to a StepDispatcher (the event bus) and its StepResult
// comes back through OnStepResult, so task coordination never becomes a chain of blocking calls
// between services.
//
//   run:  QUEUED → RUNNING → SUCCEEDED | FAILED | CANCELLED
//   step: QUEUED → RUNNING (attempt 1, 2, …; between attempts `retry_time` is set)
//                → SUCCEEDED | FAILED | CANCELLED
//
// Every transition is written to the RunStore before the work it leads to is handed on (a job
// dispatched, a retry scheduled), so after a crash Recover() finds each unfinished run where it
// was: a step that succeeded is never run again, and the attempt that was in flight is
// dispatched again under the same job id, which the executors' dedupe tables recognise. A result
// that does not match the current attempt (late, duplicated, from before a restart) is ignored.
//
// Failures are retried per the step's RetryPolicy when IsRetryable; each attempt's error is kept
// in the step. An attempt that has not answered `step_grace` after its timeoutMs is failed with
// DEADLINE_EXCEEDED (the executor enforces timeoutMs itself; this is the net under it). The
// pipeline's output is its `output` template rendered over the run, else the last step's output.
//
// Templates are rendered within EngineOptions::render_limits: a run whose templates over its
// input alone exceed them is refused at Submit (and failed at Recover); a step's job or the
// output that exceeds them once earlier steps' outputs are in fails the run with
// TEMPLATE_OUTPUT_TOO_LARGE, not retried.
//
// Threading: public methods may be called from any thread. Transitions of one run are serialised
// by that run's own lock (store writes included, so they happen in order); different runs
// proceed in parallel. Work that timers and results trigger runs through `post` (a WorkerPool in
// production) because Scheduler tasks must not block. Everything borrowed must outlive the engine.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/random/random.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/core/clock.h"
#include "libs/core/scheduler.h"
#include "services/tasks/engine/run_store.h"
#include "services/tasks/engine/step_dispatcher.h"
#include "services/tasks/pipeline/template.h"
#include "spine/v1/tasks.pb.h"

namespace spine::tasks {

struct EngineOptions {
  int max_active_runs_per_user = 16;             // SPINE_TASKS_USER_MAX_RUNS; more is 429
  absl::Duration step_grace = absl::Seconds(5);  // beyond timeoutMs before an attempt is failed
  RenderLimits render_limits{};                  // SPINE_TASKS_RENDER_MAX_VALUE_BYTES, _MAX_BYTES
};

// Runs `task` off the caller's thread. An error means it will not run.
using Post = std::function<absl::Status(std::function<void()>)>;

// The reason of a reused idempotency key with a different request; 422 at the edge.
inline constexpr char kIdempotencyKeyReused[] = "IDEMPOTENCY_KEY_REUSED";

class TaskEngine {
 public:
  TaskEngine(RunStore& store, StepDispatcher& dispatcher, Scheduler& scheduler, const Clock& clock,
             Post post, EngineOptions options = {});
  ~TaskEngine();
  TaskEngine(const TaskEngine&) = delete;
  TaskEngine& operator=(const TaskEngine&) = delete;

  // Accepts a run of `definition` (already parsed and checked) and starts its first step.
  // With an `idempotency_key` the same user gets their first run with that key back, unstarted
  // again; INVALID_ARGUMENT (kIdempotencyKeyReused) when that first run was of another pipeline
  // or input. INVALID_ARGUMENT (TEMPLATE_OUTPUT_TOO_LARGE) when the templates over `input` alone
  // already render beyond the render limits; RESOURCE_EXHAUSTED (RUN_LIMIT) over the user's
  // concurrent runs; the store's errors as they are.
  absl::StatusOr<spine::v1::Run> Submit(int64_t user_id, int64_t pipeline_id,
                                        spine::v1::PipelineDefinitionV1 definition,
                                        google::protobuf::Value input,
                                        const std::string& idempotency_key);

  // Cancels a run that has not finished (its running job is asked to stop, the steps not done are
  // CANCELLED); a finished run is returned as it is. NOT_FOUND for another user's run.
  absl::StatusOr<spine::v1::Run> Cancel(int64_t user_id, int64_t run_id);

  // The run as stored, or as it is now if this engine is running it.
  absl::StatusOr<spine::v1::Run> Get(int64_t user_id, int64_t run_id);

  // Where a result came from, as the bus vouches for it (never as the result says).
  struct ResultOrigin {
    std::string publisher;    // the publishing service's token subject
    std::string in_reply_to;  // the id of the job message whose delivery it answers
  };

  // An executor's answer. Taken only when it answers the attempt in flight and comes from the
  // service that executes the step's kind, in reply to that attempt's job delivery: a result
  // from anyone else (a forged one) is logged and dropped. RESOURCE_EXHAUSTED when it could not
  // be taken now (the bus consumer then leaves it unacknowledged for redelivery).
  absl::Status OnStepResult(const spine::v1::StepResult& result, const ResultOrigin& origin);

  // Picks up every unfinished run from the store (call once, at start). One whose templates
  // cannot be rendered within the render limits is failed with TEMPLATE_OUTPUT_TOO_LARGE (and
  // stored so) instead of being started again.
  absl::Status Recover();

  // Calls `done` once: with the run when it finishes, or as it is at `deadline` if that comes
  // first. For the API's waitMs.
  void WhenFinished(int64_t user_id, int64_t run_id, absl::Time deadline,
                    std::function<void(absl::StatusOr<spine::v1::Run>)> done);

  // Runs this engine is driving now.
  int active_runs() const;

 private:
  struct Waiter {
    uint64_t id = 0;
    TimerId timer = 0;
    std::function<void(absl::StatusOr<spine::v1::Run>)> done;
  };
  struct Active {
    absl::Mutex mu;
    spine::v1::RunState state ABSL_GUARDED_BY(mu);
    TimerId timer ABSL_GUARDED_BY(mu) = 0;  // the step timeout, or the next attempt
    bool finished ABSL_GUARDED_BY(mu) = false;
    std::vector<Waiter> waiters ABSL_GUARDED_BY(mu);
  };
  using ActivePtr = std::shared_ptr<Active>;
  // Waiters to answer once the run's lock is released.
  using Answers =
      std::vector<std::pair<std::function<void(absl::StatusOr<spine::v1::Run>)>, spine::v1::Run>>;

  ActivePtr Find(int64_t run_id) const;
  // Registers a run this engine now drives.
  ActivePtr Adopt(spine::v1::RunState state);

  // Transitions; each is called with the run's lock held.
  void StartAttempt(Active& run, int index, Answers& answers) ABSL_EXCLUSIVE_LOCKS_REQUIRED(run.mu);
  void SendJob(Active& run, int index, Answers& answers) ABSL_EXCLUSIVE_LOCKS_REQUIRED(run.mu);
  void StepSucceeded(Active& run, int index, const google::protobuf::Value& output,
                     Answers& answers) ABSL_EXCLUSIVE_LOCKS_REQUIRED(run.mu);
  void AttemptFailed(Active& run, int index, const spine::v1::RunError& error, Answers& answers)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(run.mu);
  void Finish(Active& run, spine::v1::Run::State state, Answers& answers)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(run.mu);
  void Resume(Active& run, Answers& answers) ABSL_EXCLUSIVE_LOCKS_REQUIRED(run.mu);
  // Fails a recovered run that cannot go on, its unfinished steps stopped.
  void Abandon(Active& run, const spine::v1::RunError& error, Answers& answers)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(run.mu);
  // Asks the executor of step `index` to stop its attempt in flight (best effort).
  void CancelJob(Active& run, int index) ABSL_EXCLUSIVE_LOCKS_REQUIRED(run.mu);
  // Writes the run's whole state to the store; false (logged) when the store refused it.
  bool Persist(Active& run) ABSL_EXCLUSIVE_LOCKS_REQUIRED(run.mu);
  // Writes a finished run again after `pause` (doubling up to kLastStoreRetry) until stored.
  void PersistFinishedLater(Active& run, absl::Duration pause)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(run.mu);
  // Forgets a finished run that is stored.
  void Release(Active& run) ABSL_EXCLUSIVE_LOCKS_REQUIRED(run.mu);
  void ClearTimer(Active& run) ABSL_EXCLUSIVE_LOCKS_REQUIRED(run.mu);
  // Runs `transition` on `run` through post_ at `when`.
  TimerId At(absl::Time when, const ActivePtr& run,
             std::function<void(Active&, Answers&)> transition);
  TimerId Arm(absl::Time when, const std::weak_ptr<Active>& run,
              std::function<void(Active&, Answers&)> transition);

  static spine::v1::StepJob JobFor(const spine::v1::RunState& state, int index);
  static void Answer(Answers& answers);

  static constexpr absl::Duration kFirstStoreRetry = absl::Milliseconds(200);
  static constexpr absl::Duration kLastStoreRetry = absl::Seconds(5);

  RunStore& store_;
  StepDispatcher& dispatcher_;
  Scheduler& scheduler_;
  const Clock& clock_;
  const Post post_;
  const EngineOptions options_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<int64_t, ActivePtr> runs_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<int64_t, int> per_user_ ABSL_GUARDED_BY(mu_);
  uint64_t next_waiter_ ABSL_GUARDED_BY(mu_) = 1;
  absl::BitGen random_ ABSL_GUARDED_BY(mu_);
};

}  // namespace spine::tasks
