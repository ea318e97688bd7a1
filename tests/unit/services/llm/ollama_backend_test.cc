#include "services/llm/backends/ollama_backend.h"

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
using testing::RunToEnd;
using testing::RunUntilDone;
using testing::SplitEvery;

constexpr absl::string_view kFinal =
    R"({"model":"m","message":{"role":"assistant","content":""},"done":true,)"
    R"("done_reason":"stop","prompt_eval_count":12,"eval_count":3,)"
    R"("total_duration":5043500667,"load_duration":5025959,"eval_duration":4000000})"
    "\n";

std::string Delta(absl::string_view text) {
  return nlohmann::json{{"model", "m"},
                        {"message", {{"role", "assistant"}, {"content", std::string(text)}}},
                        {"done", false}}
             .dump() +
         "\n";
}

GenerateParams Params(absl::Duration timeout = absl::Seconds(10)) {
  GenerateParams params;
  params.backend_model = "llama3.2:1b";
  params.messages = {{"system", "Be brief."}, {"user", "Say hi"}};
  params.max_tokens = 64;
  params.temperature = 0.5;
  params.deadline = absl::Now() + timeout;
  return params;
}

// A client and a backend pointed at `server` (or any base URL).
using Fixture = testing::BackendFixture<OllamaBackend>;

FakeResponse Streamed(std::vector<std::string> chunks,
                      FakeResponse::End end = FakeResponse::End::kComplete) {
  return testing::StreamedResponse("application/x-ndjson", std::move(chunks), end);
}

TEST_CASE("ollama streams a reply and reports its token counts") {
  FakeHttpServer server([](const ReceivedRequest&) {
    return Streamed({Delta("Hel"), Delta("lo"), Delta("!"), std::string(kFinal)});
  });
  Fixture fixture(server.base_url() + "/");
  GenerationRecorder recorder;
  const absl::StatusOr<GenerateResult> result = RunToEnd(*fixture.backend, recorder, Params());
  REQUIRE(result.ok());
  CHECK(result->text == "Hello!");
  CHECK(result->finish_reason == "stop");
  CHECK(result->prompt_tokens == 12);
  CHECK(result->completion_tokens == 3);
  CHECK(result->backend_total == absl::Nanoseconds(5043500667));
  CHECK(result->backend_load == absl::Nanoseconds(5025959));
  CHECK(recorder.deltas() == std::vector<std::string>{"Hel", "lo", "!"});
  CHECK(recorder.done_calls() == 1);
  CHECK(recorder.done_thread() != std::this_thread::get_id());

  const std::vector<ReceivedRequest> requests = server.requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].target == "/api/chat");
  const nlohmann::json body = nlohmann::json::parse(requests[0].body);
  CHECK(body["model"] == "llama3.2:1b");
  CHECK(body["stream"] == true);
  CHECK(body["messages"] == nlohmann::json::parse(R"([{"role":"system","content":"Be brief."},)"
                                                  R"({"role":"user","content":"Say hi"}])"));
  CHECK(body["options"]["num_predict"] == 64);
  CHECK(body["options"]["temperature"] == 0.5);
}

TEST_CASE("ollama runs a generation that has no delta callback") {
  FakeHttpServer server([](const ReceivedRequest&) {
    return Streamed({Delta("Hel"), Delta("lo"), std::string(kFinal)});
  });
  Fixture fixture(server.base_url());
  const absl::StatusOr<GenerateResult> result =
      testing::RunWithoutDeltas(*fixture.backend, Params());
  REQUIRE(result.ok());
  CHECK(result->text == "Hello");
}

TEST_CASE("ollama lines split anywhere across chunks parse the same") {
  const std::string stream = Delta("a\"b") + Delta("\xC3\xA9") + "\r\n" + std::string(kFinal);
  for (const size_t step : {1, 2, 3, 7, 13}) {
    INFO("step " << step);
    FakeHttpServer server([&](const ReceivedRequest&) {
      FakeResponse response = Streamed(SplitEvery(stream, step));
      response.pause = absl::ZeroDuration();
      return response;
    });
    Fixture fixture(server.base_url());
    GenerationRecorder recorder;
    RunUntilDone(*fixture.backend, recorder, Params());
    REQUIRE(recorder.result().ok());
    CHECK(recorder.result()->text == "a\"b\xC3\xA9");
  }
}

TEST_CASE("ollama 404 for an unknown model is NOT_FOUND with Ollama's message") {
  FakeHttpServer server([](const ReceivedRequest&) {
    FakeResponse response;
    response.status = 404;
    response.content_type = "application/json";
    response.chunks = {R"({"error":"model \"nope\" not found, try pulling it first"})"};
    response.chunked = false;
    return response;
  });
  Fixture fixture(server.base_url());
  GenerationRecorder recorder;
  RunUntilDone(*fixture.backend, recorder, Params());
  CHECK(recorder.result().status().code() == absl::StatusCode::kNotFound);
  CHECK(rpc::GetErrorInfo(recorder.result().status())->reason() == "BACKEND_MODEL_NOT_FOUND");
  CHECK(recorder.result().status().message() ==
        "ollama: HTTP 404: model \"nope\" not found, try pulling it first");
}

TEST_CASE("ollama busy (503, 429) is UNAVAILABLE") {
  for (const int status : {503, 429}) {
    FakeHttpServer server([status](const ReceivedRequest&) {
      FakeResponse response;
      response.status = status;
      response.chunks = {"busy"};
      response.chunked = false;
      return response;
    });
    Fixture fixture(server.base_url());
    GenerationRecorder recorder;
    RunUntilDone(*fixture.backend, recorder, Params());
    CHECK(recorder.result().status().code() == absl::StatusCode::kUnavailable);
  }
}

TEST_CASE("ollama refused connection is UNAVAILABLE, without the server's address") {
  Fixture fixture(RefusingBaseUrl());
  GenerationRecorder recorder;
  RunUntilDone(*fixture.backend, recorder, Params());
  const absl::Status status = recorder.result().status();
  CHECK(status.code() == absl::StatusCode::kUnavailable);
  CHECK(rpc::GetErrorInfo(status)->reason() == "BACKEND_UNAVAILABLE");
  CHECK(status.message() == "ollama: the model server is not reachable");
}

TEST_CASE("ollama malformed line is INTERNAL") {
  for (const std::string bad : {"{not json\n", "[1,2]\n",
                                R"({"message":"text"})"
                                "\n",
                                R"({"message":{"content":5}})"
                                "\n",
                                R"({"done":"yes"})"
                                "\n"}) {
    INFO(bad);
    FakeHttpServer server([&](const ReceivedRequest&) {
      return Streamed({Delta("ok"), bad, std::string(kFinal)});
    });
    Fixture fixture(server.base_url());
    GenerationRecorder recorder;
    RunUntilDone(*fixture.backend, recorder, Params());
    CHECK(recorder.result().status().code() == absl::StatusCode::kInternal);
    CHECK(recorder.done_calls() == 1);
  }
}

TEST_CASE("ollama error line in the stream is mapped") {
  FakeHttpServer server([](const ReceivedRequest&) {
    return Streamed({Delta("par"), R"({"error":"model runner has unexpectedly stopped"})"
                                   "\n"});
  });
  Fixture fixture(server.base_url());
  GenerationRecorder recorder;
  RunUntilDone(*fixture.backend, recorder, Params());
  CHECK(recorder.result().status().code() == absl::StatusCode::kUnavailable);
  CHECK(recorder.result().status().message() == "ollama: model runner has unexpectedly stopped");
}

TEST_CASE("ollama stream dropped mid-reply is UNAVAILABLE") {
  SECTION("inside a chunked body") {
    FakeHttpServer server([](const ReceivedRequest&) {
      return Streamed({Delta("a"), Delta("b")}, FakeResponse::End::kDrop);
    });
    Fixture fixture(server.base_url());
    GenerationRecorder recorder;
    RunUntilDone(*fixture.backend, recorder, Params());
    CHECK(recorder.result().status().code() == absl::StatusCode::kUnavailable);
    CHECK(recorder.deltas() == std::vector<std::string>{"a", "b"});
  }
  SECTION("a complete body without the final line") {
    FakeHttpServer server([](const ReceivedRequest&) { return Streamed({Delta("a")}); });
    Fixture fixture(server.base_url());
    GenerationRecorder recorder;
    RunUntilDone(*fixture.backend, recorder, Params());
    CHECK(recorder.result().status().code() == absl::StatusCode::kUnavailable);
  }
}

TEST_CASE("ollama stall past the deadline ends as DEADLINE_EXCEEDED") {
  FakeHttpServer server(
      [](const ReceivedRequest&) { return Streamed({Delta("slow")}, FakeResponse::End::kStall); });
  Fixture fixture(server.base_url());
  CheckStallEndsAtDeadline(*fixture.backend, Params(absl::Milliseconds(300)));
}

TEST_CASE("ollama cancel during a stalled stream ends it as CANCELLED") {
  FakeHttpServer server(
      [](const ReceivedRequest&) { return Streamed({Delta("first")}, FakeResponse::End::kStall); });
  Fixture fixture(server.base_url());
  GenerationRecorder recorder;
  auto generation =
      CheckCancelEndsStalledStream(*fixture.backend, recorder, Params(absl::Minutes(5)));
  generation->Cancel();
  CHECK(recorder.done_calls() == 1);
}

TEST_CASE("ollama base URL must be http or https") {
  auto client = HttpClient::Create(HttpClientOptions{});
  REQUIRE(client.ok());
  CHECK(OllamaBackend::Create(**client, "ftp://x").status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(OllamaBackend::Create(**client, "http://").status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(OllamaBackend::Create(**client, "http://h:1/?q=1").status().code() ==
        absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace spine::llm
