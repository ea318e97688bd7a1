// LlmService over gRPC: the real service class in an in-process server, a real RunnerPool over
// stub backends and real JWT authentication (service_test_env.h).
#include "services/llm/llm_service.h"

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "libs/rpc/error_info.h"
#include "spine/v1/llm.grpc.pb.h"
#include "tests/unit/services/llm/service_test_env.h"

namespace spine::llm {
namespace {

using spine::v1::GenerateRequest;
using spine::v1::GenerateResponse;

// A Generate call running in the background.
struct PendingGenerate {
  grpc::ClientContext context;
  GenerateRequest request;
  GenerateResponse response;
  grpc::Status status;
  absl::Notification done;
};

struct Fixture {
  Fixture() {
    env.Serve({&service});
    stub = spine::v1::LlmService::NewStub(env.channel());
  }
  ~Fixture() { env.Shutdown(); }

  grpc::Status Generate(const GenerateRequest& request, GenerateResponse* response,
                        const std::string& user = "7") {
    grpc::ClientContext context;
    env.Prepare(context, user);
    return stub->Generate(&context, request, response);
  }

  // Starts a Generate for `model` by `user` and returns at once.
  std::unique_ptr<PendingGenerate> StartGenerate(const std::string& model,
                                                 const std::string& user = "7") {
    auto call = std::make_unique<PendingGenerate>();
    env.Prepare(call->context, user);
    call->request.set_model(model);
    call->request.set_prompt("tell me a story");
    PendingGenerate* raw = call.get();
    stub->async()->Generate(&raw->context, &raw->request, &raw->response,
                            [raw](grpc::Status status) {
                              raw->status = std::move(status);
                              raw->done.Notify();
                            });
    return call;
  }

  // Cancels `call` from the client and waits for its answer.
  static void CancelAndWait(PendingGenerate& call) {
    call.context.TryCancel();
    REQUIRE(call.done.WaitForNotificationWithTimeout(absl::Seconds(10)));
    CHECK(call.status.error_code() == grpc::StatusCode::CANCELLED);
  }

  bool WaitForStats(const std::string& model, int queued, int running) {
    return ServiceTestEnv::WaitUntil([&] {
      const ModelStats stats = env.StatsOf(model);
      return stats.queued == queued && stats.running == running;
    });
  }

  ServiceTestEnv env;
  LlmService service{env.admission(), env.authenticator(),
                     LlmLimits{.max_prompt_chars = 50, .max_tokens_ceiling = 100}};
  std::unique_ptr<spine::v1::LlmService::Stub> stub;
};

GenerateRequest Request(const std::string& model, const std::string& prompt) {
  GenerateRequest request;
  request.set_model(model);
  request.set_prompt(prompt);
  return request;
}

std::string StubText(const std::vector<ChatMessage>& messages) {
  return absl::StrJoin(StubBackend::ReplyTokens(messages), "");
}

}  // namespace

TEST_CASE_METHOD(Fixture, "listModels shows each model with its limits and live running count") {
  auto running = StartGenerate("stub-slow");
  REQUIRE(WaitForStats("stub-slow", 0, 1));

  grpc::ClientContext context;
  env.Prepare(context, "7");
  spine::v1::ListModelsResponse response;
  REQUIRE(stub->ListModels(&context, {}, &response).ok());
  REQUIRE(response.models_size() == 2);
  CHECK(response.models(0).name() == "stub");
  CHECK(response.models(0).backend() == "stub");
  CHECK(response.models(0).max_concurrency() == 2);
  CHECK(response.models(0).queue_limit() == 8);
  CHECK(response.models(0).running() == 0);
  CHECK(response.models(1).name() == "stub-slow");
  CHECK(response.models(1).running() == 1);
  CHECK(response.models(1).queued() == 0);

  CancelAndWait(*running);
  CHECK(WaitForStats("stub-slow", 0, 0));
}

TEST_CASE_METHOD(Fixture, "generate answers with the stub's text, token counts and timings") {
  GenerateRequest request = Request("stub", "what is the answer");
  request.set_system("be brief");
  GenerateResponse response;
  const grpc::Status status = Generate(request, &response);
  REQUIRE(status.ok());
  const std::vector<ChatMessage> messages = {{"system", "be brief"},
                                             {"user", "what is the answer"}};
  CHECK(response.text() == StubText(messages));
  CHECK(response.model() == "stub");
  CHECK(response.finish_reason() == "stop");
  CHECK(response.prompt_tokens() == StubBackend::CountPromptTokens(messages));
  CHECK(response.completion_tokens() ==
        static_cast<int>(StubBackend::ReplyTokens(messages).size()));
  CHECK(response.queue_wait_ms() >= 0);
  CHECK(response.queue_wait_ms() < 1000);
  CHECK(response.duration_ms() >= 0);
}

TEST_CASE_METHOD(Fixture, "maxTokens cuts the reply short") {
  GenerateRequest request = Request("stub", "what is the answer");
  request.set_max_tokens(2);
  GenerateResponse response;
  REQUIRE(Generate(request, &response).ok());
  CHECK(response.completion_tokens() == 2);
  CHECK(response.finish_reason() == "length");
}

TEST_CASE_METHOD(Fixture, "an unknown model is NOT_FOUND with reason MODEL_NOT_FOUND") {
  GenerateResponse response;
  const grpc::Status status = Generate(Request("gpt-9", "hello"), &response);
  CHECK(status.error_code() == grpc::StatusCode::NOT_FOUND);
  CHECK(ReasonOf(status) == "MODEL_NOT_FOUND");
}

TEST_CASE_METHOD(Fixture, "a prompt or system over the limit is INVALID_ARGUMENT PROMPT_TOO_LONG") {
  GenerateResponse response;
  // 50 characters pass even when they take more bytes.
  std::string fifty;
  for (int i = 0; i < 50; ++i) fifty += "é";
  CHECK(Generate(Request("stub", fifty), &response).ok());

  grpc::Status status = Generate(Request("stub", fifty + "x"), &response);
  CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(ReasonOf(status) == "PROMPT_TOO_LONG");
  CHECK(status.error_message() == "prompt: 51 characters, at most 50");

  GenerateRequest request = Request("stub", "hi");
  request.set_system(std::string(51, 's'));
  status = Generate(request, &response);
  CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(ReasonOf(status) == "PROMPT_TOO_LONG");

  status = Generate(Request("stub", ""), &response);
  CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_CASE_METHOD(Fixture,
                 "out-of-range temperature, maxTokens and timeoutMs are INVALID_ARGUMENT") {
  GenerateResponse response;
  for (double temperature : {-0.1, 2.1}) {
    GenerateRequest request = Request("stub", "hi");
    request.set_temperature(temperature);
    CHECK(Generate(request, &response).error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  }
  for (int max_tokens : {0, 101}) {
    GenerateRequest request = Request("stub", "hi");
    request.set_max_tokens(max_tokens);
    CHECK(Generate(request, &response).error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  }
  for (int timeout_ms : {0, 600001}) {
    GenerateRequest request = Request("stub", "hi");
    request.set_timeout_ms(timeout_ms);
    CHECK(Generate(request, &response).error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  }
  GenerateRequest request = Request("stub", "hi");
  request.set_temperature(2.0);
  request.set_max_tokens(100);
  request.set_timeout_ms(600000);
  CHECK(Generate(request, &response).ok());
}

TEST_CASE_METHOD(Fixture, "a call without a token is UNAUTHENTICATED") {
  GenerateResponse response;
  CHECK(Generate(Request("stub", "hi"), &response, /*user=*/"").error_code() ==
        grpc::StatusCode::UNAUTHENTICATED);
  grpc::ClientContext context;
  spine::v1::ListModelsResponse models;
  CHECK(stub->ListModels(&context, {}, &models).error_code() == grpc::StatusCode::UNAUTHENTICATED);
}

TEST_CASE_METHOD(Fixture, "a full queue is RESOURCE_EXHAUSTED with reason QUEUE_FULL at once") {
  auto running = StartGenerate("stub-slow", "7");
  REQUIRE(WaitForStats("stub-slow", 0, 1));
  auto queued = StartGenerate("stub-slow", "8");
  REQUIRE(WaitForStats("stub-slow", 1, 1));

  GenerateResponse response;
  const grpc::Status status = Generate(Request("stub-slow", "one more"), &response, "9");
  CHECK(status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  CHECK(ReasonOf(status) == "QUEUE_FULL");

  CancelAndWait(*queued);
  CancelAndWait(*running);
  CHECK(WaitForStats("stub-slow", 0, 0));
}

TEST_CASE_METHOD(Fixture, "a client that cancels a queued call frees its queue slot") {
  auto running = StartGenerate("stub-slow");
  REQUIRE(WaitForStats("stub-slow", 0, 1));
  auto queued = StartGenerate("stub-slow");
  REQUIRE(WaitForStats("stub-slow", 1, 1));

  CancelAndWait(*queued);
  CHECK(WaitForStats("stub-slow", 0, 1));

  // And a running one frees its runner.
  CancelAndWait(*running);
  CHECK(WaitForStats("stub-slow", 0, 0));
}

TEST_CASE_METHOD(Fixture, "a timeoutMs shorter than the wait is DEADLINE_EXCEEDED") {
  GenerateRequest request = Request("stub-slow", "hi");
  request.set_timeout_ms(100);
  GenerateResponse response;
  CHECK(Generate(request, &response).error_code() == grpc::StatusCode::DEADLINE_EXCEEDED);
  CHECK(WaitForStats("stub-slow", 0, 0));
}

TEST_CASE_METHOD(Fixture, "streamGenerate sends the deltas, then done with the same text") {
  grpc::ClientContext context;
  env.Prepare(context, "7");
  auto reader = stub->StreamGenerate(&context, Request("stub", "what is the answer"));
  std::string streamed;
  int deltas = 0;
  int dones = 0;
  GenerateResponse done;
  spine::v1::GenerateStreamEvent event;
  while (reader->Read(&event)) {
    if (event.has_done()) {
      ++dones;
      done = event.done();
    } else {
      CHECK(dones == 0);
      ++deltas;
      streamed += event.delta();
    }
  }
  REQUIRE(reader->Finish().ok());
  const std::vector<ChatMessage> messages = {{"user", "what is the answer"}};
  CHECK(dones == 1);
  CHECK(deltas >= 1);
  CHECK(streamed == StubText(messages));
  CHECK(done.text() == streamed);
  CHECK(done.model() == "stub");
  CHECK(done.finish_reason() == "stop");
}

TEST_CASE_METHOD(Fixture, "streamGenerate ends with the error when nothing was written") {
  grpc::ClientContext context;
  env.Prepare(context, "7");
  auto reader = stub->StreamGenerate(&context, Request("gpt-9", "hi"));
  spine::v1::GenerateStreamEvent event;
  CHECK_FALSE(reader->Read(&event));
  const grpc::Status status = reader->Finish();
  CHECK(status.error_code() == grpc::StatusCode::NOT_FOUND);
  CHECK(ReasonOf(status) == "MODEL_NOT_FOUND");
}

TEST_CASE_METHOD(Fixture, "cancelling a stream cancels its generation") {
  grpc::ClientContext context;
  env.Prepare(context, "7");
  auto reader = stub->StreamGenerate(&context, Request("stub-slow", "hi"));
  REQUIRE(WaitForStats("stub-slow", 0, 1));
  context.TryCancel();
  spine::v1::GenerateStreamEvent event;
  CHECK_FALSE(reader->Read(&event));
  CHECK(reader->Finish().error_code() == grpc::StatusCode::CANCELLED);
  CHECK(WaitForStats("stub-slow", 0, 0));
}

// The stub model emits every token and its end in one step, so the job's `done` arrives while the
// first write is still in flight: the job's thread (Pump after setting the final status) races a
// gRPC thread (OnWriteDone finishing the call). A reactor deleted in OnDone while the job's
// thread was still in Pump was a use-after-free that crashed spine-llm under load (found by the
// soak under ASan). Half the clients read to the end, half leave after the first event.
TEST_CASE_METHOD(Fixture, "streams whose job ends while a write is in flight end cleanly") {
  constexpr int kClients = 4;
  constexpr int kStreamsEach = 40;
  std::vector<std::thread> clients;
  clients.reserve(kClients);
  std::atomic<int> completed{0};
  std::atomic<int> left{0};
  std::atomic<int> failed{0};
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      for (int i = 0; i < kStreamsEach; ++i) {
        grpc::ClientContext context;
        env.Prepare(context, std::to_string(100 + c));
        auto reader = stub->StreamGenerate(&context, Request("stub", "what is the answer"));
        spine::v1::GenerateStreamEvent event;
        const bool leave = i % 2 == 1;
        bool got_done = false;
        while (reader->Read(&event)) {
          got_done = got_done || event.has_done();
          if (leave) {
            context.TryCancel();
            break;
          }
        }
        const grpc::Status status = reader->Finish();
        if (leave) {
          ++left;
        } else if (status.ok() && got_done) {
          ++completed;
        } else {
          ++failed;
        }
      }
    });
  }
  for (std::thread& client : clients) client.join();
  CHECK(failed == 0);
  CHECK(completed == kClients * kStreamsEach / 2);
  CHECK(left == kClients * kStreamsEach / 2);
  // Every job ended and released its runner.
  CHECK(WaitForStats("stub", 0, 0));
}

}  // namespace spine::llm

namespace spine::llm {
namespace {

// The audit events recorded so far with `action`.
std::vector<spine::v1::AuditEvent> EventsOf(const ServiceTestEnv& env, const std::string& action) {
  std::vector<spine::v1::AuditEvent> found;
  for (auto& event : env.audit_sink().events()) {
    if (event.action() == action) found.push_back(event);
  }
  return found;
}

double Number(const spine::v1::AuditEvent& event, const std::string& key) {
  auto it = event.details().fields().find(key);
  REQUIRE(it != event.details().fields().end());
  return it->second.number_value();
}

std::string Text(const spine::v1::AuditEvent& event, const std::string& key) {
  auto it = event.details().fields().find(key);
  return it == event.details().fields().end() ? "<none>" : it->second.string_value();
}

}  // namespace

TEST_CASE_METHOD(Fixture, "every generation is audited with sizes, timings and outcome, no text") {
  GenerateRequest request = Request("stub", "héllo there");
  request.set_system("be brief");
  GenerateResponse response;
  grpc::ClientContext context;
  env.Prepare(context, "42");
  context.AddMetadata("x-request-id", "audit-req-1");
  REQUIRE(stub->Generate(&context, request, &response).ok());
  REQUIRE(ServiceTestEnv::WaitUntil([&] { return EventsOf(env, "llm.generate").size() == 1; }));
  const spine::v1::AuditEvent event = EventsOf(env, "llm.generate")[0];
  CHECK(event.actor() == "42");
  CHECK(event.target() == "model:stub");
  CHECK(event.outcome() == "ok");
  CHECK(event.request_id() == "audit-req-1");
  CHECK(Number(event, "promptChars") == 11);  // code points, not bytes
  CHECK(Number(event, "systemChars") == 8);
  CHECK(Number(event, "messages") == 2);
  CHECK(Number(event, "replyChars") == static_cast<double>(response.text().size()));
  CHECK(Number(event, "completionTokens") == response.completion_tokens());
  CHECK(Number(event, "queueWaitMs") == response.queue_wait_ms());
  CHECK(Number(event, "durationMs") == response.duration_ms());
  CHECK(Text(event, "finishReason") == "stop");
  // metadata mode: neither the prompt nor the reply.
  CHECK(!event.details().fields().contains("prompt"));
  CHECK(!event.details().fields().contains("reply"));
}

TEST_CASE_METHOD(Fixture, "refused and failed generations are audited with their code and reason") {
  GenerateResponse response;
  REQUIRE(Generate(Request("gpt-9", "hello"), &response).error_code() ==
          grpc::StatusCode::NOT_FOUND);
  GenerateRequest late = Request("stub-slow", "hi");
  late.set_timeout_ms(50);
  REQUIRE(Generate(late, &response).error_code() == grpc::StatusCode::DEADLINE_EXCEEDED);

  auto events = EventsOf(env, "llm.generate");
  REQUIRE(events.size() == 2);
  CHECK(events[0].target() == "model:gpt-9");
  CHECK(events[0].outcome() == "error");
  CHECK(Text(events[0], "code") == "NOT_FOUND");
  CHECK(Text(events[0], "reason") == "MODEL_NOT_FOUND");
  CHECK(Number(events[0], "promptChars") == 5);
  CHECK(events[1].outcome() == "error");
  CHECK(Text(events[1], "code") == "DEADLINE_EXCEEDED");
  // stub-slow's runner was free: it ran, and its deadline ended it.
  CHECK(events[1].details().fields().at("ran").bool_value());
}

TEST_CASE_METHOD(Fixture, "a user over their concurrent limit is refused; others are not") {
  // ServiceTestEnv allows each user 2 generations at once, over every model.
  auto running = StartGenerate("stub-slow", "7");
  REQUIRE(WaitForStats("stub-slow", 0, 1));
  auto queued = StartGenerate("stub-slow", "7");
  REQUIRE(WaitForStats("stub-slow", 1, 1));

  GenerateResponse response;
  const grpc::Status refused = Generate(Request("stub", "hi"), &response, "7");
  CHECK(refused.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  CHECK(ReasonOf(refused) == "USER_CONCURRENCY_LIMIT");
  CHECK(Generate(Request("stub", "hi"), &response, "8").ok());
  auto denied = EventsOf(env, "llm.generate");
  REQUIRE(!denied.empty());
  CHECK(denied.back().actor() == "8");
  CHECK(std::any_of(denied.begin(), denied.end(), [](const spine::v1::AuditEvent& event) {
    return event.outcome() == "denied" && Text(event, "reason") == "USER_CONCURRENCY_LIMIT";
  }));

  // A slot comes back when a generation ends, however it ends. The client hears CANCELLED before
  // the server has ended the job; the job's audit event is recorded after its slot is returned.
  CancelAndWait(*queued);
  REQUIRE(ServiceTestEnv::WaitUntil([&] {
    auto events = EventsOf(env, "llm.generate");
    return std::any_of(events.begin(), events.end(), [](const spine::v1::AuditEvent& event) {
      return Text(event, "code") == "CANCELLED";
    });
  }));
  CHECK(Generate(Request("stub", "hi"), &response, "7").ok());
  CancelAndWait(*running);
}

TEST_CASE("a generation past the caller's timeoutMs is named as such") {
  const absl::Status named = NameGenerationTimeout(
      absl::DeadlineExceededError("stub generation passed its deadline"), "slow", 1500);
  CHECK(named.code() == absl::StatusCode::kDeadlineExceeded);
  CHECK(named.message() == "generation exceeded timeoutMs 1500");
  CHECK(rpc::GetErrorInfo(named)->reason() == "GENERATION_TIMEOUT");
  CHECK(rpc::GetErrorInfo(named)->metadata().at("model") == "slow");
  // Without a timeoutMs of the caller's, or already named: unchanged.
  CHECK(NameGenerationTimeout(absl::DeadlineExceededError("x"), "slow", 0).message() == "x");
  const absl::Status model_limit = rpc::WithErrorInfo(
      absl::DeadlineExceededError("model 'slow' exceeded"), "GENERATION_TIMEOUT");
  CHECK(NameGenerationTimeout(model_limit, "slow", 1500).message() == "model 'slow' exceeded");
}

}  // namespace spine::llm
