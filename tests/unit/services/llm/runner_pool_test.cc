#include "services/llm/runner_pool.h"

#include <catch2/catch.hpp>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "libs/core/clock.h"
#include "libs/rpc/error_info.h"
#include "services/llm/backends/backend.h"
#include "tests/support/manual_scheduler.h"

namespace spine::llm {
namespace {

// A backend the test drives by hand: Start only records the call; the test ends each generation
// with Finish, standing in for the backend's own thread.
class FakeBackend final : public Backend {
 public:
  struct Call {
    GenerateParams params{};
    OnDelta on_delta{};
    OnDone done{};
    bool cancelled = false;
    bool finished = false;
  };

  std::unique_ptr<Generation> Start(const GenerateParams& params, OnDelta on_delta,
                                    OnDone done) override {
    calls_.push_back(std::make_unique<Call>(
        Call{.params = params, .on_delta = std::move(on_delta), .done = std::move(done)}));
    return std::make_unique<Handle>(*this, *calls_.back());
  }

  size_t started() const { return calls_.size(); }
  // From now on Cancel ends the generation with CANCELLED at once (for destroying the pool).
  void FinishOnCancel() { finish_on_cancel_ = true; }
  Call& call(size_t i) { return *calls_.at(i); }
  // The user whose prompt call i carries (tests put the user's name in the message).
  std::string user_of(size_t i) { return call(i).params.messages.at(0).content; }

  void Finish(size_t i, absl::StatusOr<GenerateResult> result = GenerateResult{
                            .text = "ok", .finish_reason = "stop"}) {
    Call& c = call(i);
    REQUIRE_FALSE(c.finished);
    c.finished = true;
    c.done(std::move(result));
  }

 private:
  class Handle final : public Generation {
   public:
    Handle(FakeBackend& backend, Call& call) : backend_(backend), call_(call) {}
    void Cancel() override {
      call_.cancelled = true;
      if (backend_.finish_on_cancel_ && !call_.finished) {
        call_.finished = true;
        call_.done(absl::CancelledError("cancelled"));
      }
    }

   private:
    FakeBackend& backend_;
    Call& call_;
  };

  std::vector<std::unique_ptr<Call>> calls_;
  bool finish_on_cancel_ = false;
};

ModelConfig Model(const std::string& name, int max_concurrency, int queue_limit) {
  ModelConfig config;
  config.name = name;
  config.backend = "stub";
  config.backend_model = name + "-at-backend";
  config.max_concurrency = max_concurrency;
  config.queue_limit = queue_limit;
  config.timeout = absl::Seconds(60);
  return config;
}

// What a job's on_done received.
struct Outcome {
  std::optional<JobResult> result;
  bool done() const { return result.has_value(); }
};

class PoolFixture {
 public:
  PoolFixture() : scheduler_(clock_) {}
  PoolFixture(const PoolFixture&) = delete;
  PoolFixture& operator=(const PoolFixture&) = delete;
  // The pool waits for running jobs to end; a test that fails midway leaves some running.
  ~PoolFixture() {
    for (auto& [name, backend] : backends_) backend->FinishOnCancel();
    pool_.reset();
  }

  void Make(const std::vector<ModelConfig>& models) {
    std::map<std::string, Backend*> backends;
    for (const ModelConfig& model : models) {
      backends_[model.name] = std::make_unique<FakeBackend>();
      backends[model.name] = backends_[model.name].get();
    }
    auto pool = RunnerPool::Create(models, backends, scheduler_, clock_);
    INFO(pool.status().ToString());
    REQUIRE(pool.ok());
    pool_ = *std::move(pool);
  }

  // Submits a job whose prompt is the user's name; its outcome lands in outcomes_[returned index].
  absl::StatusOr<JobHandle> Submit(const std::string& model, const std::string& user,
                                   absl::Time deadline = absl::InfiniteFuture()) {
    outcomes_.push_back(std::make_unique<Outcome>());
    Outcome* outcome = outcomes_.back().get();
    JobRequest request{.model = model, .user_id = user};
    request.params.messages.push_back({.role = "user", .content = user});
    request.params.deadline = deadline;
    request.on_done = [outcome](JobResult result) {
      REQUIRE_FALSE(outcome->done());
      outcome->result = std::move(result);
    };
    return pool_->Submit(std::move(request));
  }
  JobHandle MustSubmit(const std::string& model, const std::string& user,
                       absl::Time deadline = absl::InfiniteFuture()) {
    absl::StatusOr<JobHandle> handle = Submit(model, user, deadline);
    INFO(handle.status().ToString());
    REQUIRE(handle.ok());
    return *handle;
  }

  ModelStats StatsOf(const std::string& model) const {
    for (const ModelStats& stats : pool_->Stats()) {
      if (stats.name == model) return stats;
    }
    FAIL("no stats for " << model);
    return {};
  }

  FakeBackend& backend(const std::string& model) { return *backends_.at(model); }
  Outcome& outcome(size_t i) { return *outcomes_.at(i); }

  FakeClock clock_;
  ManualScheduler scheduler_;
  std::map<std::string, std::unique_ptr<FakeBackend>> backends_;
  std::vector<std::unique_ptr<Outcome>> outcomes_;
  std::unique_ptr<RunnerPool> pool_;
};

TEST_CASE_METHOD(PoolFixture, "a model runs at most maxConcurrency jobs at once") {
  Make({Model("m", 2, 10)});
  for (int i = 0; i < 3; ++i) MustSubmit("m", "user" + std::to_string(i));
  CHECK(backend("m").started() == 2);
  ModelStats stats = StatsOf("m");
  CHECK(stats.running == 2);
  CHECK(stats.queued == 1);
  CHECK(stats.max_concurrency == 2);
  CHECK(stats.queue_limit == 10);

  clock_.Advance(absl::Milliseconds(700));
  backend("m").Finish(0);
  REQUIRE(backend("m").started() == 3);
  CHECK(backend("m").user_of(2) == "user2");
  REQUIRE(outcome(0).done());
  CHECK(outcome(0).result->result.ok());
  CHECK(outcome(0).result->ran);
  CHECK(outcome(0).result->queue_wait == absl::ZeroDuration());
  CHECK(outcome(0).result->run_duration == absl::Milliseconds(700));

  clock_.Advance(absl::Milliseconds(300));
  backend("m").Finish(2);
  REQUIRE(outcome(2).done());
  CHECK(outcome(2).result->queue_wait == absl::Milliseconds(700));
  CHECK(outcome(2).result->run_duration == absl::Milliseconds(300));
  backend("m").Finish(1);
  CHECK(StatsOf("m").running == 0);
}

TEST_CASE_METHOD(PoolFixture, "the backend gets the model's backend name and a timeout deadline") {
  Make({Model("m", 1, 10)});
  MustSubmit("m", "a");
  const GenerateParams& params = backend("m").call(0).params;
  CHECK(params.backend_model == "m-at-backend");
  CHECK(params.deadline == clock_.Now() + absl::Seconds(60));
  backend("m").Finish(0);

  // The caller's earlier deadline wins over the model's timeout.
  MustSubmit("m", "a", clock_.Now() + absl::Seconds(5));
  CHECK(backend("m").call(1).params.deadline == clock_.Now() + absl::Seconds(5));
  backend("m").Finish(1);
}

TEST_CASE_METHOD(PoolFixture, "a backend's error names the model, and so does its own timeout") {
  Make({Model("m", 2, 10)});
  MustSubmit("m", "a");
  backend("m").Finish(0, rpc::WithErrorInfo(absl::UnavailableError("ollama: not reachable"),
                                            "BACKEND_UNAVAILABLE"));
  REQUIRE(outcome(0).done());
  const absl::Status unavailable = outcome(0).result->result.status();
  CHECK(unavailable.code() == absl::StatusCode::kUnavailable);
  CHECK(unavailable.message() == "model 'm': ollama: not reachable");
  CHECK(rpc::GetErrorInfo(unavailable)->reason() == "BACKEND_UNAVAILABLE");
  CHECK(rpc::GetErrorInfo(unavailable)->metadata().at("model") == "m");

  // The model's 60 s came before the caller's (none): named as the model's.
  MustSubmit("m", "a");
  backend("m").Finish(1, absl::DeadlineExceededError("stub generation passed its deadline"));
  const absl::Status timed_out = outcome(1).result->result.status();
  CHECK(timed_out.message() ==
        "model 'm' exceeded its 60000 ms timeout (timeoutMs in the models file)");
  CHECK(rpc::GetErrorInfo(timed_out)->reason() == "GENERATION_TIMEOUT");
  // The caller's earlier deadline is left for the caller to name.
  MustSubmit("m", "a", clock_.Now() + absl::Seconds(5));
  backend("m").Finish(2, absl::DeadlineExceededError("stub generation passed its deadline"));
  CHECK_FALSE(rpc::GetErrorInfo(outcome(2).result->result.status()).has_value());
  // A cancel is not the model's doing.
  MustSubmit("m", "a");
  backend("m").Finish(3, absl::CancelledError("cancelled"));
  CHECK(outcome(3).result->result.status().message() == "cancelled");
}

TEST_CASE_METHOD(PoolFixture, "deltas reach the caller in order") {
  Make({Model("m", 1, 10)});
  std::string text;
  JobRequest request{.model = "m", .user_id = "a"};
  request.on_delta = [&text](absl::string_view delta) { text.append(delta.data(), delta.size()); };
  bool done = false;
  request.on_done = [&done](const JobResult&) { done = true; };
  // Outside REQUIRE, whose expansion is a loop to clang-tidy's use-after-move check.
  const bool submitted = pool_->Submit(std::move(request)).ok();
  REQUIRE(submitted);
  backend("m").call(0).on_delta("Hello");
  backend("m").call(0).on_delta(", world");
  backend("m").Finish(0);
  CHECK(text == "Hello, world");
  CHECK(done);
}

TEST_CASE_METHOD(PoolFixture, "a full queue is refused at once with QUEUE_FULL and a retry hint") {
  Make({Model("m", 1, 2)});
  MustSubmit("m", "a");
  MustSubmit("m", "a");
  MustSubmit("m", "b");
  absl::StatusOr<JobHandle> refused = Submit("m", "c");
  REQUIRE(refused.status().code() == absl::StatusCode::kResourceExhausted);
  CHECK_THAT(std::string(refused.status().message()), Catch::Contains("2 requests queued"));
  std::optional<google::rpc::ErrorInfo> info = rpc::GetErrorInfo(refused.status());
  REQUIRE(info.has_value());
  CHECK(info->reason() == "QUEUE_FULL");
  CHECK(info->metadata().at("model") == "m");
  CHECK(info->metadata().at("retryAfterSeconds") == "1");
  CHECK(backend("m").started() == 1);
  CHECK(StatsOf("m").queued == 2);

  // After a run of 10 s the hint is the time for the three jobs ahead: 30 s.
  clock_.Advance(absl::Seconds(10));
  backend("m").Finish(0);
  MustSubmit("m", "d");
  refused = Submit("m", "e");
  REQUIRE(refused.status().code() == absl::StatusCode::kResourceExhausted);
  CHECK(rpc::GetErrorInfo(refused.status())->metadata().at("retryAfterSeconds") == "30");

  for (size_t i = 1; i < 4; ++i) backend("m").Finish(i);
  CHECK_FALSE(outcome(3).done());  // the refused job's callback never runs
}

TEST_CASE_METHOD(PoolFixture, "a slow model's busy runner does not delay another model") {
  Make({Model("slow", 1, 10), Model("fast", 1, 10)});
  MustSubmit("slow", "a");
  MustSubmit("slow", "a");
  MustSubmit("slow", "b");
  clock_.Advance(absl::Seconds(3));
  MustSubmit("fast", "c");
  REQUIRE(backend("fast").started() == 1);
  backend("fast").Finish(0);
  REQUIRE(outcome(3).done());
  CHECK(outcome(3).result->queue_wait == absl::ZeroDuration());
  CHECK(StatsOf("fast").queued == 0);
  CHECK(StatsOf("slow").queued == 2);
  CHECK(StatsOf("slow").running == 1);
  backend("slow").Finish(0);
  backend("slow").Finish(1);
  backend("slow").Finish(2);
}

TEST_CASE_METHOD(PoolFixture, "another user's first job runs right after the running one") {
  Make({Model("m", 1, 100)});
  for (int i = 0; i < 21; ++i) MustSubmit("m", "A");  // one running, twenty queued
  clock_.Advance(absl::Seconds(1));
  MustSubmit("m", "B");
  CHECK(StatsOf("m").queued == 21);

  clock_.Advance(absl::Seconds(1));
  backend("m").Finish(0);
  REQUIRE(backend("m").started() == 2);
  CHECK(backend("m").user_of(1) == "B");
  backend("m").Finish(1);
  REQUIRE(outcome(21).done());
  CHECK(outcome(21).result->queue_wait == absl::Seconds(1));

  // With B gone, A's jobs follow in the order A sent them.
  for (size_t i = 2; i < 22; ++i) {
    REQUIRE(backend("m").started() == i + 1);
    CHECK(backend("m").user_of(i) == "A");
    backend("m").Finish(i);
  }
  for (size_t i = 0; i < 21; ++i) CHECK(outcome(i).done());
  CHECK(StatsOf("m").running == 0);
}

TEST_CASE_METHOD(PoolFixture, "two users with queued jobs take turns") {
  Make({Model("m", 1, 100)});
  MustSubmit("m", "A");
  for (int i = 0; i < 3; ++i) MustSubmit("m", "A");
  for (int i = 0; i < 3; ++i) MustSubmit("m", "B");
  std::vector<std::string> order;
  for (size_t i = 0; i < 7; ++i) {
    REQUIRE(backend("m").started() == i + 1);
    order.push_back(backend("m").user_of(i));
    backend("m").Finish(i);
  }
  CHECK(order == std::vector<std::string>{"A", "B", "A", "B", "A", "B", "A"});
}

TEST_CASE_METHOD(PoolFixture, "a queued job whose deadline passes is dropped without running") {
  Make({Model("m", 1, 10)});
  MustSubmit("m", "a");
  MustSubmit("m", "b", clock_.Now() + absl::Seconds(5));
  MustSubmit("m", "c");

  scheduler_.Advance(absl::Milliseconds(4999));
  CHECK_FALSE(outcome(1).done());
  scheduler_.Advance(absl::Milliseconds(1));
  REQUIRE(outcome(1).done());
  CHECK(outcome(1).result->result.status().code() == absl::StatusCode::kDeadlineExceeded);
  CHECK_FALSE(outcome(1).result->ran);
  CHECK(outcome(1).result->queue_wait == absl::Seconds(5));
  CHECK(StatsOf("m").queued == 1);

  backend("m").Finish(0);
  REQUIRE(backend("m").started() == 2);
  CHECK(backend("m").user_of(1) == "c");  // b never reached the backend
  backend("m").Finish(1);
  CHECK(scheduler_.pending() == 0);
}

TEST_CASE_METHOD(PoolFixture, "a job whose deadline has passed is refused at Submit") {
  Make({Model("m", 1, 10)});
  absl::StatusOr<JobHandle> late = Submit("m", "a", clock_.Now());
  CHECK(late.status().code() == absl::StatusCode::kDeadlineExceeded);
  CHECK(backend("m").started() == 0);
}

TEST_CASE_METHOD(PoolFixture, "an unknown model is NOT_FOUND") {
  Make({Model("m", 1, 10)});
  absl::StatusOr<JobHandle> missing = Submit("other", "a");
  CHECK(missing.status().code() == absl::StatusCode::kNotFound);
  CHECK_THAT(std::string(missing.status().message()), Catch::Contains("\"other\""));
}

TEST_CASE_METHOD(PoolFixture, "cancelling a queued job removes it at once") {
  Make({Model("m", 1, 10)});
  MustSubmit("m", "a");
  JobHandle second = MustSubmit("m", "b", clock_.Now() + absl::Seconds(30));
  MustSubmit("m", "c");

  clock_.Advance(absl::Seconds(2));
  second.Cancel();
  REQUIRE(outcome(1).done());
  CHECK(outcome(1).result->result.status().code() == absl::StatusCode::kCancelled);
  CHECK_FALSE(outcome(1).result->ran);
  CHECK(outcome(1).result->queue_wait == absl::Seconds(2));
  CHECK(StatsOf("m").queued == 1);
  CHECK(scheduler_.pending() == 0);  // its deadline timer went with it
  second.Cancel();                   // a second Cancel is a no-op

  backend("m").Finish(0);
  REQUIRE(backend("m").started() == 2);
  CHECK(backend("m").user_of(1) == "c");
  backend("m").Finish(1);
}

TEST_CASE_METHOD(PoolFixture, "cancelling a running job cancels the backend and frees the runner") {
  Make({Model("m", 1, 10)});
  JobHandle first = MustSubmit("m", "a");
  MustSubmit("m", "b");
  first.Cancel();
  CHECK(backend("m").call(0).cancelled);
  // The runner is freed by the backend's `done`, not before.
  CHECK(StatsOf("m").running == 1);
  CHECK(backend("m").started() == 1);

  clock_.Advance(absl::Milliseconds(40));
  backend("m").Finish(0, absl::CancelledError("cancelled"));
  REQUIRE(outcome(0).done());
  CHECK(outcome(0).result->result.status().code() == absl::StatusCode::kCancelled);
  CHECK(outcome(0).result->ran);
  REQUIRE(backend("m").started() == 2);
  CHECK(backend("m").user_of(1) == "b");
  first.Cancel();  // after the end: a no-op
  backend("m").Finish(1);
}

TEST_CASE_METHOD(PoolFixture, "stats report queued, running and the oldest queued age") {
  Make({Model("m", 1, 10), Model("idle", 2, 5)});
  MustSubmit("m", "a");
  MustSubmit("m", "b");
  clock_.Advance(absl::Seconds(2));
  MustSubmit("m", "c");
  clock_.Advance(absl::Seconds(1));

  std::vector<ModelStats> stats = pool_->Stats();
  REQUIRE(stats.size() == 2);
  CHECK(stats[0].name == "m");
  CHECK(stats[0].backend == "stub");
  CHECK(stats[0].running == 1);
  CHECK(stats[0].queued == 2);
  CHECK(stats[0].oldest_queued_age == absl::Seconds(3));
  CHECK(stats[1].name == "idle");
  CHECK(stats[1].queued == 0);
  CHECK(stats[1].running == 0);
  CHECK(stats[1].oldest_queued_age == absl::ZeroDuration());

  backend("m").Finish(0);
  CHECK(StatsOf("m").oldest_queued_age == absl::Seconds(1));
  backend("m").Finish(1);
  backend("m").Finish(2);
  CHECK(StatsOf("m").queued == 0);
  CHECK(StatsOf("m").running == 0);
}

TEST_CASE_METHOD(PoolFixture, "destroying the pool cancels queued and running jobs") {
  Make({Model("m", 1, 10)});
  MustSubmit("m", "a");
  MustSubmit("m", "b", clock_.Now() + absl::Seconds(10));
  backend("m").FinishOnCancel();
  pool_.reset();
  REQUIRE(outcome(0).done());
  CHECK(backend("m").call(0).cancelled);
  CHECK(outcome(0).result->result.status().code() == absl::StatusCode::kCancelled);
  CHECK(outcome(0).result->ran);
  REQUIRE(outcome(1).done());
  CHECK(outcome(1).result->result.status().code() == absl::StatusCode::kCancelled);
  CHECK_FALSE(outcome(1).result->ran);
  CHECK(scheduler_.pending() == 0);
}

}  // namespace
}  // namespace spine::llm
