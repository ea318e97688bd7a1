#include "services/llm/backends/stub_backend.h"

#include <catch2/catch.hpp>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "libs/core/clock.h"
#include "libs/core/scheduler.h"
#include "tests/support/manual_scheduler.h"

namespace spine::llm {
namespace {

GenerateParams Prompt(const std::string& text) {
  GenerateParams params;
  params.backend_model = "stub";
  params.messages = {{.role = "system", .content = "Be brief."}, {.role = "user", .content = text}};
  return params;
}

// One generation's deltas and result, collected from the callbacks.
struct Run {
  std::vector<std::string> deltas;
  std::optional<absl::StatusOr<GenerateResult>> result;
  std::unique_ptr<Generation> handle;
};

class StubFixture {
 public:
  StubFixture() : scheduler_(clock_) {}

  std::unique_ptr<Run> Start(StubBackend& backend, const GenerateParams& params) {
    auto run = std::make_unique<Run>();
    Run* r = run.get();
    run->handle = backend.Start(
        params, [r](absl::string_view delta) { r->deltas.emplace_back(delta); },
        [r](absl::StatusOr<GenerateResult> result) {
          REQUIRE_FALSE(r->result.has_value());
          r->result = std::move(result);
        });
    return run;
  }

  FakeClock clock_;
  ManualScheduler scheduler_;
};

TEST_CASE_METHOD(StubFixture, "the stub's reply is derived from the prompt alone") {
  StubBackend backend({}, scheduler_, clock_);
  std::unique_ptr<Run> first = Start(backend, Prompt("What is a spine?"));
  std::unique_ptr<Run> again = Start(backend, Prompt("What is a spine?"));
  std::unique_ptr<Run> other = Start(backend, Prompt("Something else entirely"));
  CHECK_FALSE(first->result.has_value());  // never inline in Start
  scheduler_.RunDue();
  REQUIRE(first->result.has_value());
  REQUIRE(first->result->ok());
  REQUIRE(again->result->ok());
  REQUIRE(other->result->ok());
  CHECK((*first->result)->text == (*again->result)->text);
  CHECK((*first->result)->text != (*other->result)->text);
  CHECK((*first->result)->text ==
        absl::StrJoin(StubBackend::ReplyTokens(Prompt("What is a spine?").messages), ""));
  CHECK((*first->result)->finish_reason == "stop");
}

TEST_CASE_METHOD(StubFixture, "the stub reports one delta per token and counts tokens") {
  StubBackend backend({}, scheduler_, clock_);
  std::unique_ptr<Run> run = Start(backend, Prompt("count   these four\nwords"));
  scheduler_.RunDue();
  REQUIRE(run->result.has_value());
  REQUIRE(run->result->ok());
  const GenerateResult& result = **run->result;
  CHECK(absl::StrJoin(run->deltas, "") == result.text);
  CHECK(result.completion_tokens == static_cast<int>(run->deltas.size()));
  CHECK(result.completion_tokens >= 8);
  CHECK(result.completion_tokens <= 24);
  CHECK(result.prompt_tokens == 2 + 4);  // "Be brief." and the user's four words
}

TEST_CASE_METHOD(StubFixture, "max_tokens cuts the reply short with finish reason length") {
  StubBackend backend({}, scheduler_, clock_);
  GenerateParams params = Prompt("Tell me everything");
  params.max_tokens = 3;
  std::unique_ptr<Run> run = Start(backend, params);
  scheduler_.RunDue();
  REQUIRE(run->result->ok());
  CHECK((*run->result)->finish_reason == "length");
  CHECK((*run->result)->completion_tokens == 3);
  CHECK(run->deltas.size() == 3);

  params.max_tokens = 1000;  // more than the reply has: no cut
  std::unique_ptr<Run> whole = Start(backend, params);
  scheduler_.RunDue();
  CHECK((*whole->result)->finish_reason == "stop");
}

TEST_CASE_METHOD(StubFixture, "tokens arrive at the configured times") {
  StubBackend backend({.first_token = absl::Milliseconds(100), .per_token = absl::Milliseconds(10)},
                      scheduler_, clock_);
  const size_t n = StubBackend::ReplyTokens(Prompt("timed").messages).size();
  std::unique_ptr<Run> run = Start(backend, Prompt("timed"));
  scheduler_.Advance(absl::Milliseconds(99));
  CHECK(run->deltas.empty());
  scheduler_.Advance(absl::Milliseconds(1));
  CHECK(run->deltas.size() == 1);
  scheduler_.Advance(absl::Milliseconds(10));
  CHECK(run->deltas.size() == 2);
  scheduler_.Advance(absl::Milliseconds(10) * static_cast<int64_t>(n - 3));
  CHECK(run->deltas.size() == n - 1);
  CHECK_FALSE(run->result.has_value());
  scheduler_.Advance(absl::Milliseconds(10));
  REQUIRE(run->result.has_value());
  CHECK(run->result->ok());
  CHECK(run->deltas.size() == n);
  CHECK(scheduler_.pending() == 0);
}

TEST_CASE_METHOD(StubFixture, "Cancel ends a generation with CANCELLED on the next turn") {
  StubBackend backend({.first_token = absl::Milliseconds(100), .per_token = absl::Seconds(1)},
                      scheduler_, clock_);
  std::unique_ptr<Run> run = Start(backend, Prompt("long answer please"));
  scheduler_.Advance(absl::Milliseconds(100));
  CHECK(run->deltas.size() == 1);
  run->handle->Cancel();
  run->handle->Cancel();  // twice is fine
  CHECK_FALSE(run->result.has_value());
  scheduler_.RunDue();  // no time passes: well within 100 ms
  REQUIRE(run->result.has_value());
  CHECK(run->result->status().code() == absl::StatusCode::kCancelled);
  scheduler_.Advance(absl::Seconds(60));
  CHECK(run->deltas.size() == 1);
  run->handle->Cancel();  // after done: a no-op
  CHECK(scheduler_.pending() == 0);
}

TEST_CASE_METHOD(StubFixture, "a dropped handle does not cancel the generation") {
  StubBackend backend({.first_token = absl::Milliseconds(5)}, scheduler_, clock_);
  std::unique_ptr<Run> run = Start(backend, Prompt("keep going"));
  run->handle.reset();
  scheduler_.Advance(absl::Milliseconds(5));
  REQUIRE(run->result.has_value());
  CHECK(run->result->ok());
}

TEST_CASE_METHOD(StubFixture, "the deadline ends a generation with DEADLINE_EXCEEDED") {
  StubBackend backend({.first_token = absl::Milliseconds(10), .per_token = absl::Milliseconds(10)},
                      scheduler_, clock_);
  GenerateParams params = Prompt("slow");
  params.deadline = clock_.Now() + absl::Milliseconds(35);
  std::unique_ptr<Run> run = Start(backend, params);
  scheduler_.Advance(absl::Milliseconds(34));
  CHECK(run->deltas.size() == 3);
  CHECK_FALSE(run->result.has_value());
  scheduler_.Advance(absl::Milliseconds(1));
  REQUIRE(run->result.has_value());
  CHECK(run->result->status().code() == absl::StatusCode::kDeadlineExceeded);
  CHECK(run->deltas.size() == 3);
}

TEST_CASE("the stub runs on the real scheduler thread") {
  RealClock& clock = RealClock::Instance();
  ThreadScheduler scheduler(clock);
  StubBackend backend({}, scheduler, clock);
  constexpr int kRuns = 200;
  absl::Mutex mu;
  int finished = 0;
  int ok = 0;
  absl::Notification all_done;
  std::vector<std::unique_ptr<Generation>> handles;
  handles.reserve(kRuns);
  for (int i = 0; i < kRuns; ++i) {
    handles.push_back(backend.Start(Prompt("prompt " + std::to_string(i)), nullptr,
                                    [&](const absl::StatusOr<GenerateResult>& result) {
                                      absl::MutexLock lock(&mu);
                                      ok += result.ok() ? 1 : 0;
                                      if (++finished == kRuns) all_done.Notify();
                                    }));
  }
  REQUIRE(all_done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  absl::MutexLock lock(&mu);
  CHECK(ok == kRuns);
}

TEST_CASE("the real scheduler runs tasks in time order and skips cancelled ones") {
  RealClock& clock = RealClock::Instance();
  ThreadScheduler scheduler(clock);
  absl::Mutex mu;
  std::vector<int> order;
  absl::Notification last;
  const absl::Time now = clock.Now();
  auto record = [&](int n) {
    return [&, n] {
      absl::MutexLock lock(&mu);
      order.push_back(n);
    };
  };
  scheduler.RunAt(now + absl::Milliseconds(40), record(3));
  scheduler.RunAt(now, record(1));
  // Far enough out that Cancel, a moment later, always comes first.
  const TimerId cancelled = scheduler.RunAt(now + absl::Milliseconds(500), record(99));
  scheduler.RunAt(now + absl::Milliseconds(20), record(2));
  scheduler.RunAt(now + absl::Milliseconds(600), [&] { last.Notify(); });
  CHECK(scheduler.Cancel(cancelled));
  REQUIRE(last.WaitForNotificationWithTimeout(absl::Seconds(30)));
  absl::MutexLock lock(&mu);
  CHECK(order == std::vector<int>{1, 2, 3});
}

}  // namespace
}  // namespace spine::llm
