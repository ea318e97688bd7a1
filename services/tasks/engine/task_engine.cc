#include "services/tasks/engine/task_engine.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/protobuf/util/time_util.h"
#include "libs/bus/step_protocol.h"
#include "libs/core/log.h"
#include "libs/core/status.h"
#include "libs/rpc/error_info.h"
#include "libs/rpc/request_id.h"
#include "services/tasks/engine/retry_policy.h"
#include "services/tasks/pipeline/template.h"

namespace spine::tasks {
namespace {

using google::protobuf::Value;
using google::protobuf::util::TimeUtil;
using spine::v1::Run;
using spine::v1::RunError;
using spine::v1::RunState;
using spine::v1::StepJob;

google::protobuf::Timestamp Stamp(absl::Time time) {
  return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(time));
}

absl::Time TimeOf(const google::protobuf::Timestamp& stamp) {
  return absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(stamp));
}

RunError ErrorOf(const absl::Status& status) { return bus::StepErrorOf(status); }

// What templates see: {"input": …, "steps": {"<id>": {"output": …}}} for the steps done so far.
Value TemplateContext(const RunState& state) {
  Value context;
  auto& fields = *context.mutable_struct_value()->mutable_fields();
  fields["input"] = state.run().input();
  auto& steps = *fields["steps"].mutable_struct_value()->mutable_fields();
  for (const Run::Step& step : state.run().steps()) {
    if (step.state() != Run::SUCCEEDED) continue;
    (*steps[step.id()].mutable_struct_value()->mutable_fields())["output"] = step.output();
  }
  return context;
}

std::string StepField(int index, absl::string_view part) {
  return absl::StrCat("steps[", index, "].", part);
}

// The step's job kind with its templates rendered over the run so far, within `limits` (the
// prompt and the system share one total).
absl::Status Render(const RunState& state, int index, const RenderLimits& limits, StepJob& job) {
  const spine::v1::PipelineStep& step = state.definition().steps(index);
  const Value context = TemplateContext(state);
  TemplateRenderer renderer(context, limits);
  if (step.has_llm()) {
    spine::v1::LlmStep& llm = *job.mutable_llm();
    llm = step.llm();
    absl::StatusOr<std::string> prompt =
        renderer.RenderText(step.llm().prompt(), StepField(index, "llm.prompt"));
    if (!prompt.ok()) return prompt.status();
    llm.set_prompt(*std::move(prompt));
    if (step.llm().has_system()) {
      absl::StatusOr<std::string> system =
          renderer.RenderText(step.llm().system(), StepField(index, "llm.system"));
      if (!system.ok()) return system.status();
      llm.set_system(*std::move(system));
    }
    return absl::OkStatus();
  }
  spine::v1::PluginStep& plugin = *job.mutable_plugin();
  plugin.set_name(step.plugin().name());
  absl::StatusOr<Value> input =
      renderer.Render(step.plugin().input(), StepField(index, "plugin.input"));
  if (!input.ok()) return input.status();
  *plugin.mutable_input() = *std::move(input);
  return absl::OkStatus();
}

// The pipeline's output rendered over the finished run, within `limits`.
absl::StatusOr<Value> RenderOutput(const RunState& state, const RenderLimits& limits) {
  const Value context = TemplateContext(state);
  return TemplateRenderer(context, limits).Render(state.definition().output(), "output");
}

// What every rendering of a run of `definition` will at least produce over `context` (the
// outputs of steps that have not run count as nothing), checked against `limits` without
// rendering anything: TEMPLATE_OUTPUT_TOO_LARGE for a run that could never render.
absl::Status MeasureRun(const spine::v1::PipelineDefinitionV1& definition, const Value& context,
                        const RenderLimits& limits) {
  for (int index = 0; index < definition.steps_size(); ++index) {
    const spine::v1::PipelineStep& step = definition.steps(index);
    TemplateRenderer renderer(context, limits);
    if (step.has_llm()) {
      SPINE_RETURN_IF_ERROR(
          renderer.MeasureText(step.llm().prompt(), StepField(index, "llm.prompt")));
      SPINE_RETURN_IF_ERROR(
          renderer.MeasureText(step.llm().system(), StepField(index, "llm.system")));
    } else {
      SPINE_RETURN_IF_ERROR(
          renderer.Measure(step.plugin().input(), StepField(index, "plugin.input")));
    }
  }
  if (!definition.has_output()) return absl::OkStatus();
  return TemplateRenderer(context, limits).Measure(definition.output(), "output");
}

// The first step that has not succeeded; steps_size() when all have.
int CurrentStep(const RunState& state) {
  int index = 0;
  while (index < state.run().steps_size() && state.run().steps(index).state() == Run::SUCCEEDED) {
    ++index;
  }
  return index;
}

}  // namespace

TaskEngine::TaskEngine(RunStore& store, StepDispatcher& dispatcher, Scheduler& scheduler,
                       const Clock& clock, Post post, EngineOptions options)
    : store_(store),
      dispatcher_(dispatcher),
      scheduler_(scheduler),
      clock_(clock),
      post_(std::move(post)),
      options_(options) {}

TaskEngine::~TaskEngine() {
  std::vector<ActivePtr> runs;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [id, run] : runs_) runs.push_back(run);
  }
  for (const ActivePtr& run : runs) {
    absl::MutexLock lock(&run->mu);
    ClearTimer(*run);
    for (Waiter& waiter : run->waiters) scheduler_.Cancel(waiter.timer);
  }
}

StepJob TaskEngine::JobFor(const RunState& state, int index) {
  const Run::Step& step = state.run().steps(index);
  StepJob job;
  job.set_job_id(absl::StrCat(state.run().id(), "/", index, "/", step.attempts()));
  job.set_run_id(state.run().id());
  job.set_user_id(state.user_id());
  job.set_step_index(index);
  job.set_attempt(step.attempts());
  job.set_step_id(step.id());
  job.set_request_id(state.request_id());
  return job;
}

void TaskEngine::CancelJob(Active& run, int index) {
  const std::string job_id = JobFor(run.state, index).job_id();
  // The kind comes from the definition: the job's body is not built for a cancel.
  const absl::Status sent = dispatcher_.Send(
      bus::CancelMessage(bus::StepKindOf(run.state.definition().steps(index)), job_id));
  if (!sent.ok()) {
    log::Warn("step cancel not sent", {{"job", job_id}, {"error", std::string(sent.message())}});
  }
}

void TaskEngine::Answer(Answers& answers) {
  for (auto& [done, run] : answers) done(std::move(run));
  answers.clear();
}

TaskEngine::ActivePtr TaskEngine::Find(int64_t run_id) const {
  absl::MutexLock lock(&mu_);
  const auto it = runs_.find(run_id);
  return it == runs_.end() ? nullptr : it->second;
}

TaskEngine::ActivePtr TaskEngine::Adopt(RunState state) {
  const int64_t id = state.run().id();
  auto run = std::make_shared<Active>();
  {
    absl::MutexLock lock(&run->mu);
    run->state = std::move(state);
  }
  // Not under run->mu: the lock order is a run's lock, then the engine's.
  absl::MutexLock lock(&mu_);
  runs_[id] = run;
  return run;
}

int TaskEngine::active_runs() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(runs_.size());
}

absl::StatusOr<Run> TaskEngine::Submit(int64_t user_id, int64_t pipeline_id,
                                       spine::v1::PipelineDefinitionV1 definition, Value input,
                                       const std::string& idempotency_key) {
  // Refused before anything is stored or started: templates that are too big over the input
  // alone would only fail the run later, after its steps had run.
  {
    Value context;
    auto& fields = *context.mutable_struct_value()->mutable_fields();
    fields["input"] = input;
    fields["steps"].mutable_struct_value();
    SPINE_RETURN_IF_ERROR(MeasureRun(definition, context, options_.render_limits));
  }
  {
    // The slot is taken before the store is asked, so concurrent submits cannot overshoot.
    absl::MutexLock lock(&mu_);
    int& count = per_user_[user_id];
    if (count >= options_.max_active_runs_per_user) {
      return rpc::WithErrorInfo(
          absl::ResourceExhaustedError(absl::StrCat("you have ", count,
                                                    " runs in progress, the most allowed at once; "
                                                    "retry when one ends")),
          "RUN_LIMIT", {{"retryAfterSeconds", "1"}});
    }
    ++count;
  }
  auto release_slot = [this, user_id] {
    absl::MutexLock lock(&mu_);
    if (--per_user_[user_id] <= 0) per_user_.erase(user_id);
  };

  RunState state;
  state.set_user_id(user_id);
  // Called on the handler thread of the request that starts the run.
  state.set_request_id(rpc::CurrentRequestId());
  Run& run = *state.mutable_run();
  run.set_pipeline_id(pipeline_id);
  run.set_state(Run::QUEUED);
  *run.mutable_input() = std::move(input);
  *run.mutable_create_time() = Stamp(clock_.Now());
  for (const spine::v1::PipelineStep& step : definition.steps()) {
    Run::Step& entry = *run.add_steps();
    entry.set_id(step.id());
    entry.set_state(Run::QUEUED);
  }
  *state.mutable_definition() = std::move(definition);

  // Kept for the comparison below: `state` is the store's to keep once the run is created.
  const int64_t requested_pipeline = run.pipeline_id();
  const Value requested_input = run.input();
  absl::StatusOr<CreatedRun> created = store_.Create(state, idempotency_key);
  if (!created.ok() || !created->created) {
    release_slot();
    if (!created.ok()) return created.status();
    const Run& first = created->state.run();
    if (first.pipeline_id() != requested_pipeline ||
        !google::protobuf::util::MessageDifferencer::Equals(first.input(), requested_input)) {
      // Answering with the first run would tell the caller its different request was done.
      return rpc::WithErrorInfo(
          absl::InvalidArgumentError(absl::StrCat(
              "idempotencyKey '", idempotency_key, "' was already used for run ", first.id(),
              " with a different request (",
              first.pipeline_id() != requested_pipeline ? "another pipeline" : "another input",
              "); use a new key for a new request")),
          kIdempotencyKeyReused,
          {{"idempotencyKey", idempotency_key}, {"runId", absl::StrCat(first.id())}});
    }
    // The first run with this key: as this engine knows it if it is driving it.
    if (ActivePtr active = Find(created->state.run().id())) {
      absl::MutexLock lock(&active->mu);
      return active->state.run();
    }
    return created->state.run();
  }
  ActivePtr active = Adopt(std::move(created->state));
  Answers answers;
  Run snapshot;
  {
    absl::MutexLock lock(&active->mu);
    active->state.mutable_run()->set_state(Run::RUNNING);
    StartAttempt(*active, 0, answers);
    snapshot = active->state.run();
  }
  Answer(answers);
  return snapshot;
}

void TaskEngine::StartAttempt(Active& run, int index, Answers& answers) {
  Run::Step& step = *run.state.mutable_run()->mutable_steps(index);
  step.set_state(Run::RUNNING);
  step.set_attempts(step.attempts() + 1);
  if (!step.has_start_time()) *step.mutable_start_time() = Stamp(clock_.Now());
  run.state.clear_retry_time();
  Persist(run);
  SendJob(run, index, answers);
}

void TaskEngine::SendJob(Active& run, int index, Answers& answers) {
  StepJob job = JobFor(run.state, index);
  const spine::v1::PipelineStep& step = run.state.definition().steps(index);
  if (absl::Status rendered = Render(run.state, index, options_.render_limits, job);
      !rendered.ok()) {
    return AttemptFailed(run, index, ErrorOf(rendered), answers);
  }
  const absl::Time deadline = clock_.Now() + absl::Milliseconds(step.timeout_ms());
  bus::SetStepDeadline(job, deadline);
  job.set_timeout_ms(step.timeout_ms());
  if (absl::Status sent = dispatcher_.Send(bus::JobMessage(bus::StepKindOf(step), job));
      !sent.ok()) {
    return AttemptFailed(run, index,
                         ErrorOf(absl::UnavailableError(absl::StrCat(
                             "the step could not be handed to its executor: ", sent.message()))),
                         answers);
  }
  const int attempt = job.attempt();
  const ActivePtr self = Find(run.state.run().id());
  ClearTimer(run);
  run.timer =
      At(deadline + options_.step_grace, self,
         [this, index, attempt](Active& timed_out, Answers& out) {
           const Run::Step& current = timed_out.state.run().steps(index);
           if (timed_out.finished || current.state() != Run::RUNNING ||
               current.attempts() != attempt || timed_out.state.has_retry_time()) {
             return;
           }
           CancelJob(timed_out, index);
           AttemptFailed(
               timed_out, index,
               ErrorOf(absl::DeadlineExceededError("the step did not answer within its timeoutMs")),
               out);
         });
}

absl::Status TaskEngine::OnStepResult(const spine::v1::StepResult& result,
                                      const ResultOrigin& origin) {
  const ActivePtr run = Find(result.run_id());
  if (run == nullptr) return absl::OkStatus();  // finished, or not ours: nothing to do
  return post_([this, run, result, origin] {
    Answers answers;
    {
      absl::MutexLock lock(&run->mu);
      const int index = result.step_index();
      if (run->finished || index < 0 || index >= run->state.run().steps_size()) return;
      const Run::Step& step = run->state.run().steps(index);
      if (step.state() != Run::RUNNING || step.attempts() != result.attempt() ||
          run->state.has_retry_time()) {
        return;  // late or repeated: not the attempt in flight
      }
      const std::string job_id = JobFor(run->state, index).job_id();
      const std::string executor =
          bus::ExecutorServiceOf(bus::StepKindOf(run->state.definition().steps(index)));
      if (result.job_id() != job_id || origin.in_reply_to != job_id ||
          origin.publisher != executor) {
        // Only the executor holding this attempt's job delivery may answer it.
        log::Warn("step result refused: not from the executor of the job",
                  {{"job", job_id},
                   {"result_job", result.job_id().substr(0, 128)},
                   {"in_reply_to", origin.in_reply_to.substr(0, 128)},
                   {"publisher", origin.publisher.substr(0, 64)}});
        return;
      }
      ClearTimer(*run);
      if (result.has_error()) {
        AttemptFailed(*run, index, result.error(), answers);
      } else {
        StepSucceeded(*run, index, result.output(), answers);
      }
    }
    Answer(answers);
  });
}

void TaskEngine::StepSucceeded(Active& run, int index, const Value& output, Answers& answers) {
  Run::Step& step = *run.state.mutable_run()->mutable_steps(index);
  step.set_state(Run::SUCCEEDED);
  *step.mutable_output() = output;
  step.clear_error();
  *step.mutable_finish_time() = Stamp(clock_.Now());
  if (index + 1 < run.state.run().steps_size()) return StartAttempt(run, index + 1, answers);

  Run& whole = *run.state.mutable_run();
  if (run.state.definition().has_output()) {
    absl::StatusOr<Value> rendered = RenderOutput(run.state, options_.render_limits);
    if (!rendered.ok()) {
      *whole.mutable_error() = ErrorOf(rendered.status());
      return Finish(run, Run::FAILED, answers);
    }
    *whole.mutable_output() = *std::move(rendered);
  } else {
    *whole.mutable_output() = output;
  }
  Finish(run, Run::SUCCEEDED, answers);
}

void TaskEngine::AttemptFailed(Active& run, int index, const RunError& error, Answers& answers) {
  Run::Step& step = *run.state.mutable_run()->mutable_steps(index);
  *step.add_attempt_errors() = error;
  const spine::v1::RetryPolicy& policy = run.state.definition().steps(index).retry();
  if (IsRetryable(error) && step.attempts() < policy.max_attempts()) {
    absl::Duration pause;
    {
      absl::MutexLock lock(&mu_);
      pause = RetryBackoff(policy, step.attempts() + 1, random_);
    }
    const absl::Time when = clock_.Now() + pause;
    *run.state.mutable_retry_time() = Stamp(when);
    Persist(run);
    ClearTimer(run);
    run.timer = At(when, Find(run.state.run().id()), [this, index](Active& retried, Answers& out) {
      if (retried.finished || !retried.state.has_retry_time()) return;
      StartAttempt(retried, index, out);
    });
    return;
  }
  step.set_state(Run::FAILED);
  *step.mutable_error() = error;
  *step.mutable_finish_time() = Stamp(clock_.Now());
  *run.state.mutable_run()->mutable_error() = error;
  Finish(run, Run::FAILED, answers);
}

void TaskEngine::Finish(Active& run, Run::State state, Answers& answers) {
  Run& whole = *run.state.mutable_run();
  whole.set_state(state);
  *whole.mutable_finish_time() = Stamp(clock_.Now());
  run.state.clear_retry_time();
  run.finished = true;
  ClearTimer(run);
  const bool stored = Persist(run);
  for (Waiter& waiter : run.waiters) {
    scheduler_.Cancel(waiter.timer);
    answers.emplace_back(std::move(waiter.done), whole);
  }
  run.waiters.clear();
  if (!stored) return PersistFinishedLater(run, kFirstStoreRetry);
  Release(run);
}

void TaskEngine::PersistFinishedLater(Active& run, absl::Duration pause) {
  // No transition comes after the last one to write the state again: the finished run stays
  // here (answering Get, ignoring late results) and is written again, with a growing pause,
  // until the store takes it. Otherwise the store would keep it RUNNING until the next start.
  run.timer = At(clock_.Now() + pause, Find(run.state.run().id()),
                 [this, pause](Active& finished, Answers& /*answers*/) {
                   finished.timer = 0;
                   if (Persist(finished)) return Release(finished);
                   PersistFinishedLater(finished, std::min(pause * 2, kLastStoreRetry));
                 });
}

void TaskEngine::Release(Active& run) {
  absl::MutexLock lock(&mu_);
  runs_.erase(run.state.run().id());
  if (--per_user_[run.state.user_id()] <= 0) per_user_.erase(run.state.user_id());
}

absl::StatusOr<Run> TaskEngine::Cancel(int64_t user_id, int64_t run_id) {
  const ActivePtr run = Find(run_id);
  if (run == nullptr) return Get(user_id, run_id);
  Answers answers;
  Run snapshot;
  {
    absl::MutexLock lock(&run->mu);
    if (run->state.user_id() != user_id) {
      return rpc::WithErrorInfo(absl::NotFoundError(absl::StrCat("run ", run_id, " not found")),
                                "RUN_NOT_FOUND");
    }
    if (!run->finished) {
      const absl::Time now = clock_.Now();
      for (int i = 0; i < run->state.run().steps_size(); ++i) {
        Run::Step& step = *run->state.mutable_run()->mutable_steps(i);
        if (step.state() == Run::RUNNING && !run->state.has_retry_time()) CancelJob(*run, i);
        if (step.state() == Run::RUNNING || step.state() == Run::QUEUED) {
          step.set_state(Run::CANCELLED);
          *step.mutable_finish_time() = Stamp(now);
        }
      }
      Finish(*run, Run::CANCELLED, answers);
    }
    snapshot = run->state.run();
  }
  Answer(answers);
  return snapshot;
}

absl::StatusOr<Run> TaskEngine::Get(int64_t user_id, int64_t run_id) {
  if (const ActivePtr run = Find(run_id)) {
    absl::MutexLock lock(&run->mu);
    if (run->state.user_id() == user_id) return run->state.run();
  }
  absl::StatusOr<RunState> stored = store_.Get(user_id, run_id);
  if (!stored.ok()) return stored.status();
  return stored->run();
}

absl::Status TaskEngine::Recover() {
  absl::StatusOr<std::vector<RunState>> unfinished = store_.ListUnfinished();
  if (!unfinished.ok()) return unfinished.status();
  for (RunState& state : *unfinished) {
    if (Find(state.run().id()) != nullptr) continue;
    {
      absl::MutexLock lock(&mu_);
      ++per_user_[state.user_id()];
    }
    const ActivePtr run = Adopt(std::move(state));
    Answers answers;
    {
      absl::MutexLock lock(&run->mu);
      Resume(*run, answers);
    }
    Answer(answers);
  }
  log::Info("runs recovered", {{"count", std::to_string(unfinished->size())}});
  return absl::OkStatus();
}

void TaskEngine::Resume(Active& run, Answers& answers) {
  // A stored run whose templates cannot be rendered within the limits (stored before them, or
  // under larger ones) is failed, and that stored, rather than started again at every start.
  if (absl::Status fits =
          MeasureRun(run.state.definition(), TemplateContext(run.state), options_.render_limits);
      !fits.ok()) {
    return Abandon(run, ErrorOf(fits), answers);
  }
  const int index = CurrentStep(run.state);
  Run& whole = *run.state.mutable_run();
  if (index >= whole.steps_size()) {
    // Every step succeeded but the end was not recorded: finish it now.
    const Value last = whole.steps(index - 1).output();
    return StepSucceeded(run, index - 1, last, answers);
  }
  whole.set_state(Run::RUNNING);
  const Run::Step& step = whole.steps(index);
  if (run.state.has_retry_time()) {
    run.timer = At(TimeOf(run.state.retry_time()), Find(whole.id()),
                   [this, index](Active& retried, Answers& out) {
                     if (retried.finished || !retried.state.has_retry_time()) return;
                     StartAttempt(retried, index, out);
                   });
  } else if (step.state() == Run::RUNNING && step.attempts() > 0) {
    // The attempt in flight when the engine stopped: the same job again.
    SendJob(run, index, answers);
  } else {
    StartAttempt(run, index, answers);
  }
}

void TaskEngine::Abandon(Active& run, const RunError& error, Answers& answers) {
  log::Warn("recovered run failed: it cannot go on",
            {{"run", absl::StrCat(run.state.run().id())}, {"error", error.message()}});
  const absl::Time now = clock_.Now();
  for (int i = 0; i < run.state.run().steps_size(); ++i) {
    Run::Step& step = *run.state.mutable_run()->mutable_steps(i);
    // Its job may still be at the executor.
    if (step.state() == Run::RUNNING && !run.state.has_retry_time()) CancelJob(run, i);
    if (step.state() == Run::RUNNING || step.state() == Run::QUEUED) {
      step.set_state(Run::CANCELLED);
      *step.mutable_finish_time() = Stamp(now);
    }
  }
  *run.state.mutable_run()->mutable_error() = error;
  Finish(run, Run::FAILED, answers);
}

void TaskEngine::WhenFinished(int64_t user_id, int64_t run_id, absl::Time deadline,
                              std::function<void(absl::StatusOr<Run>)> done) {
  const ActivePtr run = Find(run_id);
  if (run != nullptr) {
    absl::MutexLock lock(&run->mu);
    if (run->state.user_id() == user_id && !run->finished) {
      uint64_t id = 0;
      {
        absl::MutexLock engine_lock(&mu_);
        id = next_waiter_++;
      }
      Waiter waiter{.id = id, .done = std::move(done)};
      waiter.timer = At(deadline, run, [id](Active& waited, Answers& out) {
        for (auto it = waited.waiters.begin(); it != waited.waiters.end(); ++it) {
          if (it->id != id) continue;
          out.emplace_back(std::move(it->done), waited.state.run());
          waited.waiters.erase(it);
          return;
        }
      });
      run->waiters.push_back(std::move(waiter));
      return;
    }
  }
  done(Get(user_id, run_id));
}

bool TaskEngine::Persist(Active& run) {
  if (absl::Status stored = store_.Update(run.state); !stored.ok()) {
    // The run goes on in memory; its next transition (or, once finished, PersistFinishedLater)
    // writes the whole state again.
    log::Error("run not stored", {{"run", absl::StrCat(run.state.run().id())},
                                  {"error", std::string(stored.message())}});
    return false;
  }
  return true;
}

void TaskEngine::ClearTimer(Active& run) {
  if (run.timer != 0) scheduler_.Cancel(run.timer);
  run.timer = 0;
}

TimerId TaskEngine::At(absl::Time when, const ActivePtr& run,
                       std::function<void(Active&, Answers&)> transition) {
  return Arm(when, run, std::move(transition));
}

TimerId TaskEngine::Arm(absl::Time when, const std::weak_ptr<Active>& run,
                        std::function<void(Active&, Answers&)> transition) {
  return scheduler_.RunAt(when, [this, run, transition = std::move(transition)] {
    const absl::Status posted = post_([run, transition] {
      const ActivePtr target = run.lock();
      if (target == nullptr) return;
      Answers answers;
      {
        absl::MutexLock lock(&target->mu);
        transition(*target, answers);
      }
      Answer(answers);
    });
    if (posted.code() == absl::StatusCode::kResourceExhausted) {
      // The workers are saturated: try again shortly rather than leave the run stuck. Every
      // transition checks that it still applies, so a late or repeated one does nothing.
      Arm(clock_.Now() + absl::Milliseconds(100), run, transition);
    }
  });
}

}  // namespace spine::tasks
