// What the HTTP backend tests (ollama, openai) share: a client with a backend pointed at a fake
// server, streamed fake replies, and running a generation to its end — plus the checks that
// every streaming backend must pass the same way (deadline, cancel).
#pragma once

#include <catch2/catch.hpp>
#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "services/llm/backends/backend.h"
#include "services/llm/backends/http_client.h"
#include "tests/support/child_process.h"
#include "tests/support/poll.h"
#include "tests/unit/services/llm/fake_http_server.h"
#include "tests/unit/services/llm/generation_recorder.h"

namespace spine::llm::testing {

// A client and a `BackendT` pointed at `base_url`; `args` follow the base URL in Create.
template <typename BackendT>
struct BackendFixture {
  template <typename... Args>
  explicit BackendFixture(const std::string& base_url, Args&&... args) {
    auto created_client = HttpClient::Create(HttpClientOptions{});
    REQUIRE(created_client.ok());
    client = std::move(*created_client);
    auto created = BackendT::Create(*client, base_url, std::forward<Args>(args)...);
    REQUIRE(created.ok());
    backend = std::move(*created);
  }
  std::unique_ptr<HttpClient> client;
  std::unique_ptr<BackendT> backend;
};

// A base URL where nothing listens (the connection is refused).
inline std::string RefusingBaseUrl() {
  return "http://127.0.0.1:" + std::to_string(spine::testing::FreeLoopbackPort());
}

// A reply of `content_type` streamed in `chunks` 2 ms apart, ended by `end`.
inline FakeResponse StreamedResponse(std::string content_type, std::vector<std::string> chunks,
                                     FakeResponse::End end = FakeResponse::End::kComplete) {
  FakeResponse response;
  response.content_type = std::move(content_type);
  response.chunks = std::move(chunks);
  response.pause = absl::Milliseconds(2);
  response.end = end;
  return response;
}

// `stream` cut into pieces of `step` bytes (the last may be shorter).
inline std::vector<std::string> SplitEvery(const std::string& stream, size_t step) {
  std::vector<std::string> chunks;
  for (size_t i = 0; i < stream.size(); i += step) chunks.push_back(stream.substr(i, step));
  return chunks;
}

// Runs one generation on `backend` until it ends; `recorder` holds what it reported.
inline void RunUntilDone(Backend& backend, GenerationRecorder& recorder,
                         const GenerateParams& params) {
  auto generation = backend.Start(params, recorder.OnDelta(), recorder.OnDone());
  REQUIRE(recorder.WaitDone());
}

// Runs one generation on `backend` until it ends and returns its result.
inline absl::StatusOr<GenerateResult> RunToEnd(Backend& backend, GenerationRecorder& recorder,
                                               const GenerateParams& params) {
  RunUntilDone(backend, recorder, params);
  return recorder.result();
}

// A generation started without a delta callback (a unary generate needs none) still ends with
// the whole text. Returns it.
inline absl::StatusOr<GenerateResult> RunWithoutDeltas(Backend& backend,
                                                       const GenerateParams& params) {
  GenerationRecorder recorder;
  auto generation = backend.Start(params, Backend::OnDelta{}, recorder.OnDone());
  REQUIRE(recorder.WaitDone());
  return recorder.result();
}

// For a server that stalls: the generation ends with DEADLINE_EXCEEDED. The server never ends
// the stream, so the deadline is what ended it; how soon after it is not asserted (a loaded
// machine may be late), a deadline never enforced fails the wait.
inline void CheckStallEndsAtDeadline(Backend& backend, const GenerateParams& params) {
  GenerationRecorder recorder;
  CHECK(RunToEnd(backend, recorder, params).status().code() == absl::StatusCode::kDeadlineExceeded);
  CHECK(recorder.done_calls() == 1);
}

// For a server that stalls after a first delta: Cancel ends the generation with CANCELLED, long
// before its deadline (`params` must leave one far off), so the cancel is what ended it; a cancel
// never observed fails the wait. Returns the handle, for more calls.
inline std::unique_ptr<Generation> CheckCancelEndsStalledStream(Backend& backend,
                                                                GenerationRecorder& recorder,
                                                                const GenerateParams& params) {
  auto generation = backend.Start(params, recorder.OnDelta(), recorder.OnDone());
  REQUIRE(recorder.WaitFirstDelta(spine::testing::kPollTimeout));
  REQUIRE(recorder.done_calls() == 0);  // still stalled: only the cancel can end it now
  generation->Cancel();
  REQUIRE(recorder.WaitDone(spine::testing::kPollTimeout));
  CHECK(recorder.result().status().code() == absl::StatusCode::kCancelled);
  return generation;
}

}  // namespace spine::llm::testing
