// TaskEngine on a FakeClock and ManualScheduler, with an in-memory RunStore and a dispatcher that
// records jobs and cancels with their queues, so each test plays the executors by hand: step order
// and templates, retries and their back-off, what is not retried, timeouts, cancellation,
// idempotency, the per-user limit, late and repeated results, and recovery from the store after a
// "crash" (a new engine).
#include "services/tasks/engine/task_engine.h"

#include <catch2/catch.hpp>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "libs/bus/step_protocol.h"
#include "libs/rpc/error_info.h"
#include "libs/rpc/request_id.h"
#include "services/tasks/pipeline/pipeline_definition.h"
#include "tests/support/manual_scheduler.h"

namespace spine::tasks {
namespace {

using google::protobuf::Value;
using spine::v1::Run;
using spine::v1::RunState;
using spine::v1::StepJob;
using spine::v1::StepResult;

class FakeRunStore final : public RunStore {
 public:
  absl::StatusOr<CreatedRun> Create(const RunState& state, const std::string& key) override {
    absl::MutexLock lock(&mu_);
    if (!key.empty()) {
      const auto it = keys_.find({state.user_id(), key});
      if (it != keys_.end()) return CreatedRun{.state = runs_.at(it->second), .created = false};
    }
    RunState stored = state;
    stored.mutable_run()->set_id(next_id_++);
    runs_[stored.run().id()] = stored;
    if (!key.empty()) keys_[{state.user_id(), key}] = stored.run().id();
    ++writes_;
    return CreatedRun{.state = stored, .created = true};
  }
  absl::Status Update(const RunState& state) override {
    absl::MutexLock lock(&mu_);
    ++writes_;
    if (fail_updates_) return absl::UnavailableError("storage down");
    RunState& stored = runs_.at(state.run().id());
    const Run::State was = stored.run().state();
    if (was == Run::SUCCEEDED || was == Run::FAILED || was == Run::CANCELLED) {
      return absl::AbortedError("finished");
    }
    stored = state;
    return absl::OkStatus();
  }
  absl::StatusOr<RunState> Get(int64_t user_id, int64_t id) override {
    absl::MutexLock lock(&mu_);
    const auto it = runs_.find(id);
    if (it == runs_.end() || it->second.user_id() != user_id) {
      return absl::NotFoundError(absl::StrCat("run ", id, " not found"));
    }
    return it->second;
  }
  absl::StatusOr<std::vector<RunState>> ListUnfinished() override {
    absl::MutexLock lock(&mu_);
    std::vector<RunState> out;
    for (const auto& [id, state] : runs_) {
      const Run::State s = state.run().state();
      if (s == Run::QUEUED || s == Run::RUNNING) out.push_back(state);
    }
    return out;
  }
  Run Stored(int64_t id) {
    absl::MutexLock lock(&mu_);
    return runs_.at(id).run();
  }
  void FailUpdates(bool fail) {
    absl::MutexLock lock(&mu_);
    fail_updates_ = fail;
  }

 private:
  absl::Mutex mu_;
  std::map<int64_t, RunState> runs_;
  std::map<std::pair<int64_t, std::string>, int64_t> keys_;
  int64_t next_id_ = 1;
  int writes_ = 0;
  bool fail_updates_ = false;
};

// Records what the engine sends, and on which queue: jobs, and the ids of the jobs it cancels.
class FakeDispatcher final : public StepDispatcher {
 public:
  absl::Status Send(const bus::StepMessage& message) override {
    if (absl::EndsWith(message.queue, ".cancel")) {
      absl::StatusOr<spine::v1::StepCancel> cancel = bus::ParseStepCancel(message.payload);
      REQUIRE(cancel.ok());
      CHECK(message.id == cancel->job_id() + "/cancel");
      cancelled.push_back(cancel->job_id());
      cancel_queues.push_back(message.queue);
      return absl::OkStatus();
    }
    if (refuse_ > 0) {
      --refuse_;
      return absl::ResourceExhaustedError("queue full");
    }
    absl::StatusOr<StepJob> job = bus::ParseStepJob(message.payload);
    REQUIRE(job.ok());
    CHECK(message.id == job->job_id());
    jobs.push_back(*job);
    job_queues.push_back(message.queue);
    return absl::OkStatus();
  }
  void Refuse(int times) { refuse_ = times; }

  std::vector<StepJob> jobs;
  std::vector<std::string> job_queues;  // jobs[i] went to job_queues[i]
  std::vector<std::string> cancelled;
  std::vector<std::string> cancel_queues;  // cancelled[i] went to cancel_queues[i]

 private:
  int refuse_ = 0;
};

Value JsonValue(const std::string& json) {
  Value value;
  REQUIRE(google::protobuf::util::JsonStringToMessage(json, &value).ok());
  return value;
}

spine::v1::PipelineDefinitionV1 Pipeline(const std::string& json) {
  google::protobuf::Struct definition;
  REQUIRE(google::protobuf::util::JsonStringToMessage(json, &definition).ok());
  auto parsed = ParsePipelineDefinition(definition, nullptr);
  REQUIRE(parsed.ok());
  return *parsed;
}

constexpr char kTwoSteps[] = R"({"schemaVersion": 1, "steps": [
  {"id": "draft", "llm": {"model": "stub", "prompt": "Summarise: {{input.text}}"},
   "retry": {"maxAttempts": 3, "initialBackoffMs": 1000, "backoffCoefficient": 2, "maxBackoffMs": 1500}},
  {"id": "shout", "plugin": {"name": "uppercase", "input": {"text": "{{steps.draft.output.text}}", "n": "{{input.n}}"}}}],
  "output": {"summary": "{{steps.shout.output}}"}})";

StepResult Success(const StepJob& job, const std::string& output_json) {
  StepResult result;
  result.set_job_id(job.job_id());
  result.set_run_id(job.run_id());
  result.set_step_index(job.step_index());
  result.set_attempt(job.attempt());
  *result.mutable_output() = JsonValue(output_json);
  return result;
}

StepResult Failure(const StepJob& job, const std::string& code, const std::string& reason = "") {
  StepResult result;
  result.set_job_id(job.job_id());
  result.set_run_id(job.run_id());
  result.set_step_index(job.step_index());
  result.set_attempt(job.attempt());
  result.mutable_error()->set_code(code);
  result.mutable_error()->set_message("it went wrong");
  result.mutable_error()->set_reason(reason);
  return result;
}

struct Fixture {
  explicit Fixture(EngineOptions options = {}) : options(options) {}

  TaskEngine& engine() {
    if (!engine_) {
      engine_ = std::make_unique<TaskEngine>(
          store, dispatcher, scheduler, clock,
          [](const std::function<void()>& task) {
            task();
            return absl::OkStatus();
          },
          options);
    }
    return *engine_;
  }
  // As if spine-tasks was killed and started again: a new engine over the same store.
  void Restart() {
    engine_.reset();
    dispatcher.jobs.clear();
    dispatcher.job_queues.clear();
    REQUIRE(engine().Recover().ok());
  }
  Run Submit(const std::string& definition = kTwoSteps,
             const std::string& input = R"({"text": "a long story", "n": 3})", int64_t user = 7,
             const std::string& key = "") {
    auto run = engine().Submit(user, 0, Pipeline(definition), JsonValue(input), key);
    REQUIRE(run.ok());
    return *run;
  }
  // As the bus hands it over: from the executor of the job's kind, in reply to the job.
  void Deliver(const StepResult& result) {
    std::string publisher = "plugins";
    for (const StepJob& job : dispatcher.jobs) {
      if (job.job_id() == result.job_id() && job.has_llm()) publisher = "llm";
    }
    REQUIRE(engine()
                .OnStepResult(result, {.publisher = publisher, .in_reply_to = result.job_id()})
                .ok());
  }

  EngineOptions options;
  FakeClock clock;
  ManualScheduler scheduler{clock};
  FakeRunStore store;
  FakeDispatcher dispatcher;

 private:
  std::unique_ptr<TaskEngine> engine_;
};

}  // namespace

TEST_CASE("a run goes step by step, templates rendered, to its output") {
  Fixture f;
  const Run started = f.Submit();
  CHECK(started.state() == Run::RUNNING);
  REQUIRE(f.dispatcher.jobs.size() == 1);
  const StepJob draft = f.dispatcher.jobs[0];
  CHECK(draft.job_id() == absl::StrCat(started.id(), "/0/1"));
  CHECK(draft.user_id() == 7);
  CHECK(draft.llm().prompt() == "Summarise: a long story");
  CHECK(f.store.Stored(started.id()).steps(0).state() == Run::RUNNING);

  f.Deliver(Success(draft, R"({"text": "short"})"));
  REQUIRE(f.dispatcher.jobs.size() == 2);
  const StepJob shout = f.dispatcher.jobs[1];
  CHECK(shout.plugin().name() == "uppercase");
  // Whole-value templates keep their type: n stays a number.
  CHECK(shout.plugin().input().struct_value().fields().at("text").string_value() == "short");
  CHECK(shout.plugin().input().struct_value().fields().at("n").number_value() == 3);

  CHECK(f.dispatcher.job_queues == std::vector<std::string>{"steps.llm", "steps.plugin"});

  f.Deliver(Success(shout, R"("SHORT")"));
  const Run done = f.store.Stored(started.id());
  CHECK(done.state() == Run::SUCCEEDED);
  CHECK(done.output().struct_value().fields().at("summary").string_value() == "SHORT");
  CHECK(done.steps(0).state() == Run::SUCCEEDED);
  CHECK(done.steps(1).attempts() == 1);
  CHECK(done.has_finish_time());
  CHECK(f.engine().active_runs() == 0);
}

TEST_CASE("every step's job carries the request id of the request that started the run") {
  Fixture f;
  Run started;
  {
    // As on the RunService handler thread of the request.
    const rpc::RequestIdScope request("req-start-7");
    started = f.Submit();
  }
  REQUIRE(f.dispatcher.jobs.size() == 1);
  CHECK(f.dispatcher.jobs[0].request_id() == "req-start-7");
  // The next step is dispatched from the result's thread, which has no request of its own.
  f.Deliver(Success(f.dispatcher.jobs[0], R"({"text": "short"})"));
  REQUIRE(f.dispatcher.jobs.size() == 2);
  CHECK(f.dispatcher.jobs[1].request_id() == "req-start-7");
}

TEST_CASE("a result is taken only from the executor of the step, answering its job") {
  Fixture f;
  const Run run = f.Submit();
  const StepJob draft = f.dispatcher.jobs[0];  // an LLM step
  const StepResult forged = Success(draft, R"({"text": "pwned"})");
  auto offer = [&](const StepResult& result, const std::string& publisher,
                   const std::string& in_reply_to) {
    REQUIRE(
        f.engine().OnStepResult(result, {.publisher = publisher, .in_reply_to = in_reply_to}).ok());
  };
  // spine-plugins answering an LLM step; nobody; an answer to another job; a result whose body
  // names this job while the bus says it answers another one.
  offer(forged, "plugins", draft.job_id());
  offer(forged, "", draft.job_id());
  offer(forged, "llm", "");
  offer(forged, "llm", absl::StrCat(run.id(), "/0/2"));
  StepResult renamed = forged;
  renamed.set_job_id("other/0/1");
  offer(renamed, "llm", draft.job_id());
  CHECK(f.dispatcher.jobs.size() == 1);
  CHECK(f.store.Stored(run.id()).steps(0).state() == Run::RUNNING);

  // The real one is taken.
  offer(Success(draft, R"({"text": "short"})"), "llm", draft.job_id());
  REQUIRE(f.dispatcher.jobs.size() == 2);
  CHECK(f.store.Stored(run.id())
            .steps(0)
            .output()
            .struct_value()
            .fields()
            .at("text")
            .string_value() == "short");
  // The plugin step answers only to spine-plugins.
  const StepJob shout = f.dispatcher.jobs[1];
  offer(Success(shout, R"("PWNED")"), "llm", shout.job_id());
  CHECK(f.store.Stored(run.id()).state() == Run::RUNNING);
  offer(Success(shout, R"("SHORT")"), "plugins", shout.job_id());
  CHECK(f.store.Stored(run.id()).state() == Run::SUCCEEDED);
}

TEST_CASE("a retryable failure is retried after a growing, capped back-off") {
  Fixture f;
  const Run run = f.Submit();
  f.Deliver(Failure(f.dispatcher.jobs[0], "UNAVAILABLE"));
  // Attempt 2 waits 500..1000 ms (1000 ms with equal jitter).
  CHECK(f.dispatcher.jobs.size() == 1);
  CHECK(f.store.Stored(run.id()).steps(0).attempt_errors_size() == 1);
  f.scheduler.Advance(absl::Milliseconds(499));
  CHECK(f.dispatcher.jobs.size() == 1);
  f.scheduler.Advance(absl::Milliseconds(501));
  REQUIRE(f.dispatcher.jobs.size() == 2);
  CHECK(f.dispatcher.jobs[1].attempt() == 2);
  CHECK(f.dispatcher.jobs[1].job_id() == absl::StrCat(run.id(), "/0/2"));

  // Attempt 3 waits 750..1500 ms: 2000 ms capped at maxBackoffMs 1500.
  f.Deliver(Failure(f.dispatcher.jobs[1], "DEADLINE_EXCEEDED"));
  f.scheduler.Advance(absl::Milliseconds(749));
  CHECK(f.dispatcher.jobs.size() == 2);
  f.scheduler.Advance(absl::Milliseconds(751));
  REQUIRE(f.dispatcher.jobs.size() == 3);

  // The third failure is the last of maxAttempts: the run fails with it, every error kept.
  f.Deliver(Failure(f.dispatcher.jobs[2], "UNKNOWN", "PLUGIN_CRASHED"));
  const Run failed = f.store.Stored(run.id());
  CHECK(failed.state() == Run::FAILED);
  CHECK(failed.steps(0).state() == Run::FAILED);
  CHECK(failed.steps(0).attempts() == 3);
  REQUIRE(failed.steps(0).attempt_errors_size() == 3);
  CHECK(failed.steps(0).attempt_errors(1).code() == "DEADLINE_EXCEEDED");
  CHECK(failed.error().reason() == "PLUGIN_CRASHED");
  CHECK(failed.steps(1).state() == Run::QUEUED);
}

TEST_CASE("errors that cannot succeed on retry are not retried") {
  for (const auto& [code, reason] :
       std::vector<std::pair<std::string, std::string>>{{"INVALID_ARGUMENT", ""},
                                                        {"NOT_FOUND", ""},
                                                        {"PERMISSION_DENIED", ""},
                                                        {"UNKNOWN", "PLUGIN_BAD_OUTPUT"}}) {
    INFO(code << " " << reason);
    Fixture f;
    const Run run = f.Submit();
    f.Deliver(Failure(f.dispatcher.jobs[0], code, reason));
    f.scheduler.Advance(absl::Minutes(1));
    CHECK(f.dispatcher.jobs.size() == 1);
    CHECK(f.store.Stored(run.id()).state() == Run::FAILED);
  }
}

TEST_CASE("a missing template path fails the step, naming the path, without retrying") {
  Fixture f;
  const Run run = f.Submit(kTwoSteps, R"({"n": 3})");  // no input.text
  CHECK(f.dispatcher.jobs.empty());
  const Run failed = f.store.Stored(run.id());
  CHECK(failed.state() == Run::FAILED);
  CHECK(failed.error().reason() == "TEMPLATE_PATH_MISSING");
  CHECK(failed.error().message().find("input.text") != std::string::npos);
}

TEST_CASE("an attempt that never answers is failed after its timeout and retried") {
  Fixture f({.step_grace = absl::Seconds(5)});
  const Run run = f.Submit(R"({"schemaVersion": 1, "steps": [
      {"id": "a", "plugin": {"name": "uppercase"}, "timeoutMs": 2000,
       "retry": {"maxAttempts": 2, "initialBackoffMs": 100}}]})");
  f.scheduler.Advance(absl::Milliseconds(6999));
  CHECK(f.dispatcher.cancelled.empty());
  f.scheduler.Advance(absl::Milliseconds(1));
  CHECK(f.dispatcher.cancelled == std::vector<std::string>{absl::StrCat(run.id(), "/0/1")});
  CHECK(f.dispatcher.cancel_queues == std::vector<std::string>{"steps.plugin.cancel"});
  CHECK(f.store.Stored(run.id()).steps(0).attempt_errors(0).code() == "DEADLINE_EXCEEDED");
  f.scheduler.Advance(absl::Milliseconds(100));
  REQUIRE(f.dispatcher.jobs.size() == 2);
  // A late answer from attempt 1 is ignored; attempt 2's is taken.
  f.Deliver(Success(f.dispatcher.jobs[0], R"("late")"));
  CHECK(f.store.Stored(run.id()).state() == Run::RUNNING);
  f.Deliver(Success(f.dispatcher.jobs[1], R"("on time")"));
  CHECK(f.store.Stored(run.id()).output().string_value() == "on time");
}

TEST_CASE("a repeated result changes nothing") {
  Fixture f;
  const Run run = f.Submit();
  const StepResult first = Success(f.dispatcher.jobs[0], R"({"text": "x"})");
  f.Deliver(first);
  f.Deliver(first);
  CHECK(f.dispatcher.jobs.size() == 2);
  CHECK(f.store.Stored(run.id()).steps(0).attempts() == 1);
}

TEST_CASE("a dispatch the bus refuses counts as a retryable failure") {
  Fixture f;
  f.dispatcher.Refuse(1);
  const Run run = f.Submit();
  CHECK(f.dispatcher.jobs.empty());
  CHECK(f.store.Stored(run.id()).steps(0).attempt_errors(0).code() == "UNAVAILABLE");
  f.scheduler.Advance(absl::Seconds(2));
  CHECK(f.dispatcher.jobs.size() == 1);
}

TEST_CASE("cancel stops the running job and ends the run; a finished run stays as it was") {
  Fixture f;
  const Run run = f.Submit();
  auto cancelled = f.engine().Cancel(7, run.id());
  REQUIRE(cancelled.ok());
  CHECK(cancelled->state() == Run::CANCELLED);
  CHECK(cancelled->steps(0).state() == Run::CANCELLED);
  CHECK(cancelled->steps(1).state() == Run::CANCELLED);
  CHECK(f.dispatcher.cancelled == std::vector<std::string>{absl::StrCat(run.id(), "/0/1")});
  // The running step is an LLM step: its cancel goes where spine-llm listens.
  CHECK(f.dispatcher.cancel_queues == std::vector<std::string>{"steps.llm.cancel"});
  CHECK(f.store.Stored(run.id()).state() == Run::CANCELLED);
  // The executor's late answer does nothing.
  f.Deliver(Success(f.dispatcher.jobs[0], R"({"text": "x"})"));
  CHECK(f.dispatcher.jobs.size() == 1);
  CHECK(f.engine().Cancel(7, run.id())->state() == Run::CANCELLED);
  CHECK(f.engine().Cancel(8, run.id()).status().code() == absl::StatusCode::kNotFound);
}

TEST_CASE("the same idempotency key returns the first run and starts nothing") {
  Fixture f;
  const Run first = f.Submit(kTwoSteps, R"({"text": "t", "n": 1})", 7, "key-1");
  const Run again = f.Submit(kTwoSteps, R"({"n": 1, "text": "t"})", 7, "key-1");
  CHECK(again.id() == first.id());
  CHECK(f.dispatcher.jobs.size() == 1);
  // The same key for a different request is refused, naming the key, not answered as a match.
  auto other =
      f.engine().Submit(7, 0, Pipeline(kTwoSteps), JsonValue(R"({"text": "other"})"), "key-1");
  REQUIRE(other.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(rpc::GetErrorInfo(other.status())->reason() == "IDEMPOTENCY_KEY_REUSED");
  CHECK(absl::StrContains(other.status().message(), "'key-1'"));
  auto other_pipeline =
      f.engine().Submit(7, 5, Pipeline(kTwoSteps), JsonValue(R"({"text": "t", "n": 1})"), "key-1");
  CHECK(other_pipeline.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(f.dispatcher.jobs.size() == 1);
  // Another user's same key is another run.
  CHECK(f.Submit(kTwoSteps, R"({"text": "t", "n": 1})", 8, "key-1").id() != first.id());
}

TEST_CASE("a user's concurrent runs are limited") {
  Fixture f({.max_active_runs_per_user = 2});
  f.Submit();
  const Run second = f.Submit();
  auto third = f.engine().Submit(7, 0, Pipeline(kTwoSteps), JsonValue(R"({"text": "t"})"), "");
  CHECK(third.status().code() == absl::StatusCode::kResourceExhausted);
  CHECK(rpc::GetErrorInfo(third.status())->reason() == "RUN_LIMIT");
  CHECK(f.Submit(kTwoSteps, R"({"text": "t", "n": 1})", 8).state() == Run::RUNNING);
  REQUIRE(f.engine().Cancel(7, second.id()).ok());
  CHECK(f.engine().Submit(7, 0, Pipeline(kTwoSteps), JsonValue(R"({"text": "t"})"), "").ok());
}

TEST_CASE("after a restart every run goes on where it was stored") {
  Fixture f;
  // Run A: first step done, second in flight. Run B: first step waiting for a retry.
  // Run C: its only attempt in flight.
  const Run a = f.Submit();
  f.Deliver(Success(f.dispatcher.jobs[0], R"({"text": "done once"})"));
  const Run b = f.Submit();
  f.Deliver(Failure(f.dispatcher.jobs[2], "UNAVAILABLE"));
  const Run c = f.Submit();

  f.Restart();
  // A's second step and C's first are dispatched again as the same jobs; B waits for its retry.
  std::vector<std::string> ids;
  for (const StepJob& job : f.dispatcher.jobs) ids.push_back(job.job_id());
  std::sort(ids.begin(), ids.end());
  std::vector<std::string> expected = {absl::StrCat(a.id(), "/1/1"), absl::StrCat(c.id(), "/0/1")};
  std::sort(expected.begin(), expected.end());
  CHECK(ids == expected);
  // The step that succeeded is not run again, and its output still feeds the next.
  for (const StepJob& job : f.dispatcher.jobs) {
    if (job.run_id() == a.id()) {
      CHECK(job.plugin().input().struct_value().fields().at("text").string_value() == "done once");
    }
  }
  f.scheduler.Advance(absl::Seconds(2));
  REQUIRE(f.dispatcher.jobs.size() == 3);
  CHECK(f.dispatcher.jobs[2].job_id() == absl::StrCat(b.id(), "/0/2"));

  for (const StepJob& job : std::vector<StepJob>(f.dispatcher.jobs)) {
    f.Deliver(Success(job, R"({"text": "ok"})"));
  }
  // Finish the second steps that the first steps just started.
  for (size_t i = 3; i < f.dispatcher.jobs.size(); ++i) {
    f.Deliver(Success(f.dispatcher.jobs[i], R"("OK")"));
  }
  CHECK(f.store.Stored(a.id()).state() == Run::SUCCEEDED);
  CHECK(f.store.Stored(b.id()).state() == Run::SUCCEEDED);
  CHECK(f.store.Stored(c.id()).state() == Run::SUCCEEDED);
  CHECK(f.store.Stored(a.id()).steps(0).attempts() == 1);
}

TEST_CASE("WhenFinished answers at the end, or with the run as it is at the deadline") {
  Fixture f;
  const Run run = f.Submit();
  std::optional<absl::StatusOr<Run>> early;
  f.engine().WhenFinished(7, run.id(), f.clock.Now() + absl::Seconds(1),
                          [&](absl::StatusOr<Run> r) { early = std::move(r); });
  std::optional<absl::StatusOr<Run>> late;
  f.engine().WhenFinished(7, run.id(), f.clock.Now() + absl::Seconds(60),
                          [&](absl::StatusOr<Run> r) { late = std::move(r); });
  f.scheduler.Advance(absl::Seconds(1));
  REQUIRE(early.has_value());
  CHECK((*early)->state() == Run::RUNNING);
  CHECK_FALSE(late.has_value());
  f.Deliver(Success(f.dispatcher.jobs[0], R"({"text": "x"})"));
  f.Deliver(Success(f.dispatcher.jobs[1], R"("X")"));
  REQUIRE(late.has_value());
  CHECK((*late)->state() == Run::SUCCEEDED);
  // A finished run answers at once.
  std::optional<absl::StatusOr<Run>> now;
  f.engine().WhenFinished(7, run.id(), f.clock.Now() + absl::Seconds(60),
                          [&](absl::StatusOr<Run> r) { now = std::move(r); });
  REQUIRE(now.has_value());
  CHECK((*now)->state() == Run::SUCCEEDED);
}

TEST_CASE("a run goes on in memory while the store is down") {
  Fixture f;
  const Run run = f.Submit();
  f.store.FailUpdates(true);
  f.Deliver(Success(f.dispatcher.jobs[0], R"({"text": "x"})"));
  CHECK(f.dispatcher.jobs.size() == 2);
  f.store.FailUpdates(false);
  f.Deliver(Success(f.dispatcher.jobs[1], R"("X")"));
  CHECK(f.store.Stored(run.id()).state() == Run::SUCCEEDED);
}

TEST_CASE("a finished run whose last write fails is written again until the store takes it") {
  Fixture f;
  const Run run = f.Submit();
  f.Deliver(Success(f.dispatcher.jobs[0], R"({"text": "x"})"));
  f.store.FailUpdates(true);
  f.Deliver(Success(f.dispatcher.jobs[1], R"("X")"));
  // Finished for its caller; the store still has it running, and no transition is left to
  // write it again.
  CHECK(f.engine().Get(7, run.id())->state() == Run::SUCCEEDED);
  CHECK(f.store.Stored(run.id()).state() == Run::RUNNING);
  CHECK(f.engine().active_runs() == 1);
  f.scheduler.Advance(absl::Milliseconds(200));  // the first retry, refused too
  CHECK(f.store.Stored(run.id()).state() == Run::RUNNING);
  f.store.FailUpdates(false);
  f.scheduler.Advance(absl::Milliseconds(399));  // the next comes after twice the pause
  CHECK(f.store.Stored(run.id()).state() == Run::RUNNING);
  f.scheduler.Advance(absl::Milliseconds(1));
  CHECK(f.store.Stored(run.id()).state() == Run::SUCCEEDED);
  CHECK(f.engine().active_runs() == 0);
  CHECK(f.engine().Get(7, run.id())->state() == Run::SUCCEEDED);
}

namespace {

// The reported attack: an output of `keys` keys, each the whole of input.big.
std::string Amplifier(int keys) {
  std::string json = R"({"schemaVersion": 1, "steps": [
      {"id": "draft", "llm": {"model": "stub", "prompt": "hello"}}], "output": {)";
  for (int i = 0; i < keys; ++i) {
    absl::StrAppend(&json, i == 0 ? "" : ", ", "\"k", i, "\": \"{{input.big}}\"");
  }
  return json + "}}";
}

std::string BigInput(size_t bytes) {
  return absl::StrCat(R"({"big": ")", std::string(bytes, 'x'), R"("})");
}

std::string ReasonOf(const absl::Status& status) {
  const auto info = rpc::GetErrorInfo(status);
  return info ? info->reason() : "";
}

}  // namespace

TEST_CASE("a run whose templates render too big over its input is refused, nothing stored") {
  Fixture f;
  const auto refused =
      f.engine().Submit(7, 0, Pipeline(Amplifier(5000)), JsonValue(BigInput(40000)), "");
  REQUIRE(refused.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(ReasonOf(refused.status()) == "TEMPLATE_OUTPUT_TOO_LARGE");
  CHECK(absl::StartsWith(refused.status().message(), "output.k"));
  CHECK(f.dispatcher.jobs.empty());
  CHECK(f.store.ListUnfinished()->empty());
  CHECK(f.engine().Get(7, 1).status().code() == absl::StatusCode::kNotFound);
  CHECK(f.engine().active_runs() == 0);

  // A prompt, measured the same way, with the place named.
  const auto prompt = f.engine().Submit(7, 0, Pipeline(R"({"schemaVersion": 1, "steps": [
          {"id": "a", "llm": {"model": "stub", "prompt": "{{input.big}}{{input.big}}"}}]})"),
                                        JsonValue(BigInput(600000)), "");
  CHECK(ReasonOf(prompt.status()) == "TEMPLATE_OUTPUT_TOO_LARGE");
  CHECK(prompt.status().message() == "steps[0].llm.prompt: rendered value exceeds 1048576 bytes");

  // Within the limits the same shape runs.
  CHECK(f.engine().Submit(7, 0, Pipeline(Amplifier(50)), JsonValue(BigInput(40000)), "").ok());
}

TEST_CASE("a later step whose render exceeds the limits fails the run with the reason") {
  Fixture f({.render_limits = {.max_value_bytes = 1000, .max_total_bytes = 1500}});
  const Run run = f.Submit();
  REQUIRE(f.dispatcher.jobs.size() == 1);
  // The first step's output is big; the plugin step's input names it.
  f.Deliver(Success(f.dispatcher.jobs[0],
                    absl::StrCat(R"({"text": ")", std::string(1001, 'y'), R"("})")));
  f.scheduler.Advance(absl::Minutes(1));
  CHECK(f.dispatcher.jobs.size() == 1);  // never dispatched, never retried
  const Run failed = f.store.Stored(run.id());
  CHECK(failed.state() == Run::FAILED);
  CHECK(failed.error().reason() == "TEMPLATE_OUTPUT_TOO_LARGE");
  CHECK(failed.error().code() == "INVALID_ARGUMENT");
  CHECK(failed.error().message() ==
        "steps[1].plugin.input.text: rendered value exceeds 1000 bytes");
  CHECK(failed.steps(1).state() == Run::FAILED);
  CHECK(failed.steps(1).attempts() == 1);
  CHECK(f.engine().active_runs() == 0);

  // The output rendered at the end is held to them too.
  const Run second = f.Submit();
  f.Deliver(Success(f.dispatcher.jobs[1], R"({"text": "short"})"));
  REQUIRE(f.dispatcher.jobs.size() == 3);
  f.Deliver(Success(f.dispatcher.jobs[2], absl::StrCat("\"", std::string(1001, 'Y'), "\"")));
  const Run ended = f.store.Stored(second.id());
  CHECK(ended.state() == Run::FAILED);
  CHECK(ended.error().message() == "output.summary: rendered value exceeds 1000 bytes");
  CHECK_FALSE(ended.has_output());
}

TEST_CASE("recovery fails a stored run that cannot be rendered instead of running it again") {
  Fixture f;
  // Run A was stored before the limits: its first step in flight, its output 200 MB to come.
  RunState unrenderable;
  unrenderable.set_user_id(7);
  *unrenderable.mutable_definition() = Pipeline(Amplifier(5000));
  *unrenderable.mutable_run()->mutable_input() = JsonValue(BigInput(40000));
  unrenderable.mutable_run()->set_state(Run::RUNNING);
  Run::Step& step = *unrenderable.mutable_run()->add_steps();
  step.set_id("draft");
  step.set_state(Run::RUNNING);
  step.set_attempts(1);
  const int64_t a = f.store.Create(unrenderable, "")->state.run().id();
  // Run B: every step done, its output template amplifying the step's output; the end was not
  // stored.
  RunState finished_unstored;
  finished_unstored.set_user_id(7);
  std::string output = R"({"schemaVersion": 1, "steps": [
      {"id": "draft", "llm": {"model": "stub", "prompt": "hello"}}], "output": {)";
  for (int i = 0; i < 100; ++i) {
    absl::StrAppend(&output, i == 0 ? "" : ", ", "\"k", i, "\": \"{{steps.draft.output}}\"");
  }
  *finished_unstored.mutable_definition() = Pipeline(output + "}}");
  finished_unstored.mutable_run()->set_state(Run::RUNNING);
  Run::Step& done = *finished_unstored.mutable_run()->add_steps();
  done.set_id("draft");
  done.set_state(Run::SUCCEEDED);
  done.set_attempts(1);
  *done.mutable_output() = JsonValue(absl::StrCat("\"", std::string(40000, 'z'), "\""));
  const int64_t b = f.store.Create(finished_unstored, "")->state.run().id();

  f.Restart();
  CHECK(f.dispatcher.jobs.empty());  // nothing runs again
  CHECK(f.dispatcher.cancelled == std::vector<std::string>{absl::StrCat(a, "/0/1")});
  CHECK(f.dispatcher.cancel_queues == std::vector<std::string>{"steps.llm.cancel"});
  const Run failed_a = f.store.Stored(a);
  CHECK(failed_a.state() == Run::FAILED);
  CHECK(failed_a.error().reason() == "TEMPLATE_OUTPUT_TOO_LARGE");
  CHECK(absl::StartsWith(failed_a.error().message(), "output.k"));
  CHECK(failed_a.steps(0).state() == Run::CANCELLED);
  CHECK(failed_a.has_finish_time());
  const Run failed_b = f.store.Stored(b);
  CHECK(failed_b.state() == Run::FAILED);
  CHECK(failed_b.error().reason() == "TEMPLATE_OUTPUT_TOO_LARGE");
  CHECK(f.engine().active_runs() == 0);

  // Stored as failed: the next start has nothing to pick up.
  CHECK(f.store.ListUnfinished()->empty());
  f.Restart();
  CHECK(f.dispatcher.jobs.empty());
}

}  // namespace spine::tasks
