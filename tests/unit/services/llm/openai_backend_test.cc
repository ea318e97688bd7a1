#include "services/llm/backends/openai_backend.h"

#include <catch2/catch.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "libs/rpc/error_info.h"
#include "tests/unit/services/llm/backend_test_support.h"
#include "tests/unit/services/llm/fake_http_server.h"
#include "tests/unit/services/llm/generation_recorder.h"

namespace spine::llm {
namespace {

using testing::CheckCancelEndsStalledStream;
using testing::CheckStallEndsAtDeadline;
using testing::FakeHttpServer;
using testing::FakeResponse;
using testing::GenerationRecorder;
using testing::ReceivedRequest;
using testing::RefusingBaseUrl;
using testing::SplitEvery;

constexpr absl::string_view kKey = "sk-test-0123456789";

std::string Delta(absl::string_view text) {
  return "data: " +
         nlohmann::json{{"object", "chat.completion.chunk"},
                        {"choices",
                         {{{"index", 0},
                           {"delta", {{"content", std::string(text)}}},
                           {"finish_reason", nullptr}}}}}
             .dump() +
         "\n\n";
}

const std::string kFinish =
    R"(data: {"choices":[{"index":0,"delta":{},"finish_reason":"length"}]})"
    "\n\n"
    R"(data: {"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}})"
    "\n\n"
    "data: [DONE]\n\n";

GenerateParams Params(absl::Duration timeout = absl::Seconds(10)) {
  GenerateParams params;
  params.backend_model = "qwen2.5";
  params.messages = {{"user", "Say hi"}};
  params.max_tokens = 2;
  params.deadline = absl::Now() + timeout;
  return params;
}

struct Fixture : testing::BackendFixture<OpenAiBackend> {
  explicit Fixture(const std::string& base_url, std::string key = std::string(kKey))
      : BackendFixture(base_url, std::move(key)) {}
};

FakeResponse Streamed(std::vector<std::string> chunks,
                      FakeResponse::End end = FakeResponse::End::kComplete) {
  return testing::StreamedResponse("text/event-stream", std::move(chunks), end);
}

absl::StatusOr<GenerateResult> Run(Fixture& fixture, GenerationRecorder& recorder) {
  return testing::RunToEnd(*fixture.backend, recorder, Params());
}

TEST_CASE("openai runs a generation that has no delta callback") {
  FakeHttpServer server([](const ReceivedRequest&) {
    return Streamed({Delta("Hi"), Delta(" there"), kFinish});
  });
  Fixture fixture(server.base_url());
  const absl::StatusOr<GenerateResult> result =
      testing::RunWithoutDeltas(*fixture.backend, Params());
  REQUIRE(result.ok());
  CHECK(result->text == "Hi there");
}

TEST_CASE("openai streams a reply with usage and sends the bearer key") {
  FakeHttpServer server([](const ReceivedRequest&) {
    return Streamed({": ping\n\n", Delta("Hi"), Delta(" there"), kFinish});
  });
  Fixture fixture(server.base_url());
  GenerationRecorder recorder;
  const absl::StatusOr<GenerateResult> result = Run(fixture, recorder);
  REQUIRE(result.ok());
  CHECK(result->text == "Hi there");
  CHECK(result->finish_reason == "length");
  CHECK(result->prompt_tokens == 9);
  CHECK(result->completion_tokens == 2);
  CHECK(recorder.deltas() == std::vector<std::string>{"Hi", " there"});

  const std::vector<ReceivedRequest> requests = server.requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].target == "/v1/chat/completions");
  CHECK(requests[0].headers.at("authorization") == "Bearer " + std::string(kKey));
  const nlohmann::json body = nlohmann::json::parse(requests[0].body);
  CHECK(body["model"] == "qwen2.5");
  CHECK(body["stream"] == true);
  CHECK(body["max_tokens"] == 2);
  CHECK_FALSE(body.contains("temperature"));
}

TEST_CASE("openai base URL ending in /v1 and an empty key") {
  FakeHttpServer server([](const ReceivedRequest&) { return Streamed({Delta("x"), kFinish}); });
  Fixture fixture(server.base_url() + "/v1/", "");
  GenerationRecorder recorder;
  REQUIRE(Run(fixture, recorder).ok());
  const std::vector<ReceivedRequest> requests = server.requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].target == "/v1/chat/completions");
  CHECK(requests[0].headers.count("authorization") == 0);
}

TEST_CASE("openai events split anywhere across chunks parse the same") {
  const std::string stream = Delta("a\nb") + Delta("\xC3\xA9") + kFinish;
  for (const size_t step : {1, 2, 5, 11}) {
    INFO("step " << step);
    FakeHttpServer server([&](const ReceivedRequest&) {
      FakeResponse response = Streamed(SplitEvery(stream, step));
      response.pause = absl::ZeroDuration();
      return response;
    });
    Fixture fixture(server.base_url());
    GenerationRecorder recorder;
    const absl::StatusOr<GenerateResult> result = Run(fixture, recorder);
    REQUIRE(result.ok());
    CHECK(result->text == "a\nb\xC3\xA9");
  }
}

TEST_CASE("openai HTTP errors are mapped and never show the key") {
  struct Case {
    int status;
    absl::StatusCode code;
    const char* reason;
  };
  // A refused API key is the server's problem, never reported as the caller's permission.
  for (const Case c : {Case{401, absl::StatusCode::kUnavailable, "BACKEND_AUTH_FAILED"},
                       Case{403, absl::StatusCode::kUnavailable, "BACKEND_AUTH_FAILED"},
                       Case{404, absl::StatusCode::kNotFound, "BACKEND_MODEL_NOT_FOUND"},
                       Case{400, absl::StatusCode::kInvalidArgument, "BACKEND_REJECTED_REQUEST"},
                       Case{429, absl::StatusCode::kUnavailable, "BACKEND_UNAVAILABLE"},
                       Case{500, absl::StatusCode::kInternal, "BACKEND_ERROR"},
                       Case{503, absl::StatusCode::kUnavailable, "BACKEND_UNAVAILABLE"}}) {
    INFO(c.status);
    FakeHttpServer server([&](const ReceivedRequest&) {
      FakeResponse response;
      response.status = c.status;
      response.content_type = "application/json";
      response.chunks = {R"({"error":{"message":"went wrong","type":"x"}})"};
      response.chunked = false;
      return response;
    });
    Fixture fixture(server.base_url());
    GenerationRecorder recorder;
    const absl::Status status = Run(fixture, recorder).status();
    CHECK(status.code() == c.code);
    CHECK(rpc::GetErrorInfo(status)->reason() == c.reason);
    CHECK(status.message() == "openai: HTTP " + std::to_string(c.status) + ": went wrong");
  }
}

TEST_CASE("openai refused connection is UNAVAILABLE, without the server's address") {
  Fixture fixture(RefusingBaseUrl());
  GenerationRecorder recorder;
  const absl::Status status = Run(fixture, recorder).status();
  CHECK(status.code() == absl::StatusCode::kUnavailable);
  CHECK(rpc::GetErrorInfo(status)->reason() == "BACKEND_UNAVAILABLE");
  CHECK(status.message() == "openai: the model server is not reachable");
}

TEST_CASE("openai malformed event is INTERNAL") {
  for (const std::string bad : {"data: {oops\n\n", "data: {\"choices\":{}}\n\n",
                                "data: {\"choices\":[{\"delta\":{\"content\":1}}]}\n\n"}) {
    INFO(bad);
    FakeHttpServer server([&](const ReceivedRequest&) {
      return Streamed({Delta("ok"), bad, kFinish});
    });
    Fixture fixture(server.base_url());
    GenerationRecorder recorder;
    CHECK(Run(fixture, recorder).status().code() == absl::StatusCode::kInternal);
  }
}

TEST_CASE("openai stream dropped before [DONE] is UNAVAILABLE") {
  FakeHttpServer server([](const ReceivedRequest&) {
    return Streamed({Delta("a"), Delta("b")}, FakeResponse::End::kDrop);
  });
  Fixture fixture(server.base_url());
  GenerationRecorder recorder;
  CHECK(Run(fixture, recorder).status().code() == absl::StatusCode::kUnavailable);
}

TEST_CASE("openai stall past the deadline ends as DEADLINE_EXCEEDED") {
  FakeHttpServer server(
      [](const ReceivedRequest&) { return Streamed({Delta("slow")}, FakeResponse::End::kStall); });
  Fixture fixture(server.base_url());
  CheckStallEndsAtDeadline(*fixture.backend, Params(absl::Milliseconds(300)));
}

TEST_CASE("openai cancel during a stalled stream ends it as CANCELLED") {
  FakeHttpServer server(
      [](const ReceivedRequest&) { return Streamed({Delta("first")}, FakeResponse::End::kStall); });
  Fixture fixture(server.base_url());
  GenerationRecorder recorder;
  CheckCancelEndsStalledStream(*fixture.backend, recorder, Params(absl::Minutes(5)));
}

}  // namespace
}  // namespace spine::llm
