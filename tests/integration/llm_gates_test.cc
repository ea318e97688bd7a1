// The plan's starvation gate, the parts that need exact control of callers: fairness across users
// within one model (gate 2), a client that leaves frees its slot (gate 4), and a deadline shorter
// than the queue wait (gate 5). They call the real spine-llm over gRPC with user tokens, as an
// internal tool would, so each call can be cancelled and given a deadline precisely, and they
// assert on the queueWaitMs the service reports. Every generation is audited in spine-storage.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "libs/auth/jwt.h"
#include "libs/core/clock.h"
#include "libs/rpc/channel.h"
#include "spine/v1/llm.grpc.pb.h"
#include "spine/v1/storage.grpc.pb.h"
#include "tests/integration/constellation.h"
#include "tests/support/poll.h"

namespace spine::testing {
namespace {

using spine::v1::GenerateRequest;
using spine::v1::GenerateResponse;

// One model with a single runner: "fair" takes 250 ms a reply, "hold" runs until cancelled.
constexpr char kModels[] = R"({"models": [
  {"name": "fair", "backend": "stub", "maxConcurrency": 1, "queueLimit": 32, "timeoutMs": 60000,
   "contextChars": 1000, "stub": {"firstTokenMs": 250, "tokenMs": 0}},
  {"name": "hold", "backend": "stub", "maxConcurrency": 1, "queueLimit": 4, "timeoutMs": 60000,
   "contextChars": 1000, "stub": {"firstTokenMs": 60000, "tokenMs": 0}}]})";

// A Generate call in the background.
struct Call {
  grpc::ClientContext context;
  GenerateRequest request;
  GenerateResponse response;
  grpc::Status status;
  absl::Notification done;
  absl::Time finished;
};

class LlmClient {
 public:
  explicit LlmClient(const Constellation& stack)
      : stack_(stack),
        stub_(spine::v1::LlmService::NewStub(rpc::MakeChannel(stack.GrpcAddress("llm"), 4 << 20))) {
  }

  std::string Token(const std::string& user, const std::string& role = "user") const {
    JwtSigner signer(*Ed25519PrivateKey::FromPem(stack_.private_key_pem()), RealClock::Instance());
    return "Bearer " + *signer.Sign(user, "user" + user, role);
  }

  // Starts a Generate by `user` on `model`; `deadline` bounds the call.
  std::unique_ptr<Call> Start(const std::string& user, const std::string& model,
                              const std::string& prompt,
                              absl::Duration deadline = absl::Seconds(60)) {
    auto call = std::make_unique<Call>();
    call->context.AddMetadata("authorization", Token(user));
    call->context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
    call->request.set_model(model);
    call->request.set_prompt(prompt);
    Call* raw = call.get();
    stub_->async()->Generate(&raw->context, &raw->request, &raw->response,
                             [raw](grpc::Status status) {
                               raw->status = std::move(status);
                               raw->finished = absl::Now();
                               raw->done.Notify();
                             });
    return call;
  }

  // {queued, running} of `model`.
  std::pair<int, int> Stats(const std::string& model) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", Token("1"));
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    spine::v1::ListModelsResponse response;
    if (!stub_->ListModels(&context, {}, &response).ok()) return {-1, -1};
    for (const auto& entry : response.models()) {
      if (entry.name() == model) return {entry.queued(), entry.running()};
    }
    return {-1, -1};
  }

  // Polls Stats every 2 ms (straight to spine-llm, no rate limit) until it equals {queued,
  // running}; returns how long that took, or nothing after kPollTimeout.
  std::optional<absl::Duration> WaitStats(const std::string& model, int queued, int running) {
    const absl::Time start = absl::Now();
    if (!PollUntil([&] { return Stats(model) == std::make_pair(queued, running); }, kPollTimeout,
                   absl::Milliseconds(2))) {
      return std::nullopt;
    }
    return absl::Now() - start;
  }

 private:
  const Constellation& stack_;
  std::unique_ptr<spine::v1::LlmService::Stub> stub_;
};

// Cancels every call still running when the test ends, and waits for them.
class CancelOnExit {
 public:
  explicit CancelOnExit(std::vector<std::unique_ptr<Call>>& calls) : calls_(calls) {}
  ~CancelOnExit() {
    for (auto& call : calls_) call->context.TryCancel();
    for (auto& call : calls_) call->done.WaitForNotificationWithTimeout(absl::Seconds(10));
  }
  CancelOnExit(const CancelOnExit&) = delete;
  CancelOnExit& operator=(const CancelOnExit&) = delete;

 private:
  std::vector<std::unique_ptr<Call>>& calls_;
};

struct Stack {
  Stack()
      : models(dir.WriteFile("models.json", kModels, 0644)),
        stack(std::vector<std::string>{"storage", "llm"},
              {{"SPINE_LLM_MODELS_FILE", models},
               // The gates are about the pool; the per-user limits must not refuse first.
               {"SPINE_LLM_USER_MAX_CONCURRENT", "100"},
               {"SPINE_LLM_USER_REQUESTS_PER_MINUTE", "100000"}}) {
    for (const char* service : {"storage", "llm"}) {
      INFO(service << ": " << stack.Log(service));
      REQUIRE(stack.WaitHealthy(service, absl::Seconds(15)));
    }
  }
  TempDir dir;
  std::string models;
  Constellation stack;
};

}  // namespace

TEST_CASE("gate 2: one user's queued prompts do not delay another user's first prompt") {
  Stack env;
  LlmClient llm(env.stack);
  std::vector<std::unique_ptr<Call>> calls;
  CancelOnExit cancel(calls);
  // User A: one running, twenty queued behind it.
  calls.push_back(llm.Start("100", "fair", "a0"));
  REQUIRE(llm.WaitStats("fair", 0, 1));
  for (int i = 1; i <= 20; ++i) calls.push_back(llm.Start("100", "fair", "a" + std::to_string(i)));
  REQUIRE(llm.WaitStats("fair", 20, 1));
  // User B's first prompt goes right after the running one, ahead of A's twenty.
  auto b = llm.Start("200", "fair", "b0");
  REQUIRE(b->done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  REQUIRE(b->status.ok());
  INFO("user B waited " << b->response.queue_wait_ms() << " ms");
  // At most the rest of the one running job (250 ms) plus scheduling slack; A's twenty would
  // have been 5 000 ms.
  CHECK(b->response.queue_wait_ms() <= 400);
  // A's prompts did not get ahead of B's.
  int finished_before_b = 0;
  for (size_t i = 1; i < calls.size(); ++i) {
    if (calls[i]->done.HasBeenNotified() && calls[i]->finished < b->finished) ++finished_before_b;
  }
  CHECK(finished_before_b <= 1);
  REQUIRE(calls[1]->done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  REQUIRE(calls[2]->done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  // One runner serves A's prompts one at a time (in whatever order they reached the queue), so
  // any two of them waited at least one job's time apart.
  CHECK(std::abs(calls[2]->response.queue_wait_ms() - calls[1]->response.queue_wait_ms()) >= 200);
}

TEST_CASE("gate 4: a client that leaves frees its slot, queued or running, within 100 ms") {
  Stack env;
  LlmClient llm(env.stack);
  std::vector<std::unique_ptr<Call>> calls;
  CancelOnExit cancel(calls);
  calls.push_back(llm.Start("1", "hold", "running"));
  REQUIRE(llm.WaitStats("hold", 0, 1));
  calls.push_back(llm.Start("2", "hold", "queued, will leave"));
  calls.push_back(llm.Start("3", "hold", "queued, will get the runner"));
  REQUIRE(llm.WaitStats("hold", 2, 1));

  // A queued caller leaves: its place in the queue is gone at once.
  calls[1]->context.TryCancel();
  const auto queued_freed = llm.WaitStats("hold", 1, 1);
  REQUIRE(queued_freed);
  CHECK(*queued_freed <= absl::Milliseconds(100));
  REQUIRE(calls[1]->done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  CHECK(calls[1]->status.error_code() == grpc::StatusCode::CANCELLED);

  // The running caller leaves: its backend call is aborted and the next request starts.
  calls[0]->context.TryCancel();
  const auto runner_freed = llm.WaitStats("hold", 0, 1);
  REQUIRE(runner_freed);
  CHECK(*runner_freed <= absl::Milliseconds(100));
  REQUIRE(calls[0]->done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  CHECK(calls[0]->status.error_code() == grpc::StatusCode::CANCELLED);
  CHECK(!calls[2]->done.HasBeenNotified());  // it is the one running now
}

TEST_CASE("gate 5: a deadline shorter than the queue wait is DEADLINE_EXCEEDED and never runs") {
  Stack env;
  LlmClient llm(env.stack);
  std::vector<std::unique_ptr<Call>> calls;
  CancelOnExit cancel(calls);
  calls.push_back(llm.Start("1", "hold", "running"));
  REQUIRE(llm.WaitStats("hold", 0, 1));

  const absl::Time start = absl::Now();
  auto late = llm.Start("55", "hold", "in a hurry", absl::Milliseconds(300));
  REQUIRE(late->done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  CHECK(late->status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED);
  CHECK(late->finished - start < absl::Seconds(2));
  // It left the queue, and the running job was never displaced.
  CHECK(llm.WaitStats("hold", 0, 1));

  // The audit log in spine-storage says so: written by spine-llm, "ran": false.
  auto storage = spine::v1::StorageService::NewStub(
      rpc::MakeChannel(env.stack.GrpcAddress("storage"), 4 << 20));
  spine::v1::ListAuditEventsRequest request;
  request.set_actor("55");
  // The audit writer sends in the background: poll storage until the event is there.
  const spine::v1::ListAuditEventsResponse response = PollFor(
      [&] {
        spine::v1::ListAuditEventsResponse listed;
        grpc::ClientContext context;
        context.AddMetadata("authorization", llm.Token("1", "admin"));
        context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
        REQUIRE(storage->ListAuditEvents(&context, request, &listed).ok());
        return listed;
      },
      [](const spine::v1::ListAuditEventsResponse& seen) { return seen.events_size() > 0; },
      kPollTimeout, absl::Milliseconds(20));
  REQUIRE(response.events_size() == 1);
  const spine::v1::AuditEvent& event = response.events(0);
  CHECK(event.service() == "llm");
  CHECK(event.action() == "llm.generate");
  CHECK(event.target() == "model:hold");
  CHECK(event.outcome() == "error");
  const auto& details = event.details().fields();
  CHECK(details.at("code").string_value() == "DEADLINE_EXCEEDED");
  CHECK_FALSE(details.at("ran").bool_value());
  CHECK(details.at("promptChars").number_value() == 10);
  CHECK(!details.contains("prompt"));  // SPINE_AUDIT_PROMPTS defaults to metadata
}

}  // namespace spine::testing
