#include "services/llm/backends/http_client.h"

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "tests/support/child_process.h"
#include "tests/support/poll.h"
#include "tests/unit/services/llm/fake_http_server.h"

namespace spine::llm {
namespace {

using testing::FakeHttpServer;
using testing::FakeResponse;
using testing::ReceivedRequest;

// What one transfer reported, written on the client's thread.
struct Outcome {
  absl::Notification first_data;
  absl::Notification done;
  absl::Mutex mu;
  std::string body ABSL_GUARDED_BY(mu);
  int data_status ABSL_GUARDED_BY(mu) = 0;
  absl::Status status ABSL_GUARDED_BY(mu);
  int http_status ABSL_GUARDED_BY(mu) = 0;
  int completions ABSL_GUARDED_BY(mu) = 0;
  std::thread::id thread ABSL_GUARDED_BY(mu);
  absl::Time done_at ABSL_GUARDED_BY(mu);  // wall time, to check the deadline was not early
};

class RecordingHandler final : public HttpResponseHandler {
 public:
  explicit RecordingHandler(Outcome& outcome) : outcome_(outcome) {}
  absl::Status OnData(int http_status, absl::string_view chunk) override {
    absl::MutexLock lock(&outcome_.mu);
    outcome_.body.append(chunk.data(), chunk.size());
    outcome_.data_status = http_status;
    if (!outcome_.first_data.HasBeenNotified()) outcome_.first_data.Notify();
    return absl::OkStatus();
  }
  void OnComplete(absl::Status status, int http_status) override {
    absl::MutexLock lock(&outcome_.mu);
    outcome_.status = std::move(status);
    outcome_.http_status = http_status;
    outcome_.thread = std::this_thread::get_id();
    outcome_.done_at = absl::Now();
    if (++outcome_.completions == 1) outcome_.done.Notify();
  }

 private:
  Outcome& outcome_;
};

std::unique_ptr<HttpClient> NewClient(int max_transfers = 8) {
  HttpClientOptions options;
  options.max_transfers = max_transfers;
  auto client = HttpClient::Create(options);
  REQUIRE(client.ok());
  return std::move(*client);
}

HttpRequest Post(const FakeHttpServer& server, absl::Duration timeout = absl::Seconds(10)) {
  HttpRequest request;
  request.url = server.base_url() + "/echo";
  request.headers = {{"Content-Type", "application/json"}, {"Authorization", "Bearer sekrit"}};
  request.body = R"({"hello":"world"})";
  request.deadline = absl::Now() + timeout;
  return request;
}

FakeResponse Stalled() {
  FakeResponse response;
  response.chunks = {"first"};
  response.end = FakeResponse::End::kStall;
  return response;
}

TEST_CASE("http client posts the body and headers and streams the reply in order") {
  FakeHttpServer server([](const ReceivedRequest&) {
    FakeResponse response;
    response.chunks = {"one ", "two ", "three"};
    response.pause = absl::Milliseconds(2);
    return response;
  });
  auto client = NewClient();
  Outcome outcome;
  client->Start(Post(server), std::make_unique<RecordingHandler>(outcome));
  REQUIRE(outcome.done.WaitForNotificationWithTimeout(absl::Seconds(10)));

  absl::MutexLock lock(&outcome.mu);
  CHECK(outcome.status.ok());
  CHECK(outcome.http_status == 200);
  CHECK(outcome.data_status == 200);
  CHECK(outcome.body == "one two three");
  CHECK(outcome.thread != std::this_thread::get_id());
  const std::vector<ReceivedRequest> requests = server.requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].method == "POST");
  CHECK(requests[0].target == "/echo");
  CHECK(requests[0].body == R"({"hello":"world"})");
  CHECK(requests[0].headers.at("authorization") == "Bearer sekrit");
  CHECK(requests[0].headers.at("content-type") == "application/json");
  CHECK(requests[0].headers.count("expect") == 0);
}

TEST_CASE("http client reuses the connection for the next request to the same server") {
  FakeHttpServer server([](const ReceivedRequest&) {
    FakeResponse response;
    response.chunks = {"ok"};
    return response;
  });
  auto client = NewClient();
  for (int i = 0; i < 3; ++i) {
    Outcome outcome;
    client->Start(Post(server), std::make_unique<RecordingHandler>(outcome));
    REQUIRE(outcome.done.WaitForNotificationWithTimeout(absl::Seconds(10)));
    absl::MutexLock lock(&outcome.mu);
    CHECK(outcome.status.ok());
  }
  CHECK(server.requests().size() == 3);
  CHECK(server.connections() == 1);
}

TEST_CASE("http client reports an error status with its body, as a completed transfer") {
  FakeHttpServer server([](const ReceivedRequest&) {
    FakeResponse response;
    response.status = 404;
    response.content_type = "application/json";
    response.chunks = {R"({"error":"nope"})"};
    response.chunked = false;
    return response;
  });
  auto client = NewClient();
  Outcome outcome;
  client->Start(Post(server), std::make_unique<RecordingHandler>(outcome));
  REQUIRE(outcome.done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  absl::MutexLock lock(&outcome.mu);
  CHECK(outcome.status.ok());
  CHECK(outcome.http_status == 404);
  CHECK(outcome.body == R"({"error":"nope"})");
}

TEST_CASE("http client cancels a stalled transfer") {
  FakeHttpServer server([](const ReceivedRequest&) { return Stalled(); });
  auto client = NewClient();
  Outcome outcome;
  // The deadline is far off, so the cancel is what ends the transfer; a cancel never observed
  // fails the wait.
  const HttpClient::TransferId id =
      client->Start(Post(server, absl::Minutes(5)), std::make_unique<RecordingHandler>(outcome));
  REQUIRE(outcome.first_data.WaitForNotificationWithTimeout(spine::testing::kPollTimeout));
  REQUIRE_FALSE(outcome.done.HasBeenNotified());  // stalled: only the cancel can end it now

  client->Cancel(id);
  REQUIRE(outcome.done.WaitForNotificationWithTimeout(spine::testing::kPollTimeout));
  absl::MutexLock lock(&outcome.mu);
  CHECK(outcome.status.code() == absl::StatusCode::kCancelled);
  client->Cancel(id);  // again, after completion: nothing happens
  CHECK(outcome.completions == 1);
}

TEST_CASE("http client ends a stalled transfer at its deadline") {
  FakeHttpServer server([](const ReceivedRequest&) { return Stalled(); });
  auto client = NewClient();
  Outcome outcome;
  const HttpRequest request = Post(server, absl::Milliseconds(300));
  const absl::Time deadline = request.deadline;
  client->Start(request, std::make_unique<RecordingHandler>(outcome));
  // The server never ends the reply, so ending at all is the deadline's doing; how late after it
  // is not asserted (a loaded machine may be late), only that it was not early.
  REQUIRE(outcome.done.WaitForNotificationWithTimeout(spine::testing::kPollTimeout));
  absl::MutexLock lock(&outcome.mu);
  CHECK(outcome.status.code() == absl::StatusCode::kDeadlineExceeded);
  CHECK(outcome.done_at >= deadline - absl::Milliseconds(20));
}

TEST_CASE("http client reports a refused connection as UNAVAILABLE") {
  const int port = spine::testing::FreeLoopbackPort();
  auto client = NewClient();
  Outcome outcome;
  HttpRequest request;
  request.url = "http://127.0.0.1:" + std::to_string(port) + "/x?key=sekrit";
  request.deadline = absl::Now() + absl::Seconds(10);
  client->Start(request, std::make_unique<RecordingHandler>(outcome));
  REQUIRE(outcome.done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  absl::MutexLock lock(&outcome.mu);
  CHECK(outcome.status.code() == absl::StatusCode::kUnavailable);
  CHECK(outcome.status.message().find("sekrit") == absl::string_view::npos);
  CHECK(outcome.http_status == 0);
}

TEST_CASE("http client refuses transfers beyond its bound and takes them again once free") {
  FakeHttpServer server([](const ReceivedRequest&) { return Stalled(); });
  auto client = NewClient(/*max_transfers=*/1);
  Outcome first;
  const HttpClient::TransferId id =
      client->Start(Post(server), std::make_unique<RecordingHandler>(first));
  REQUIRE(first.first_data.WaitForNotificationWithTimeout(absl::Seconds(10)));
  Outcome second;
  client->Start(Post(server), std::make_unique<RecordingHandler>(second));
  REQUIRE(second.done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  {
    absl::MutexLock lock(&second.mu);
    CHECK(second.status.code() == absl::StatusCode::kUnavailable);
  }
  client->Cancel(id);
  REQUIRE(first.done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  Outcome third;
  client->Start(Post(server), std::make_unique<RecordingHandler>(third));
  REQUIRE(third.first_data.WaitForNotificationWithTimeout(absl::Seconds(10)));
  // The client's shutdown completes the third transfer into `third`: stop it while that lives
  // (declared later, it would die first; LeakSanitizer caught the status written into it).
  client.reset();
  absl::MutexLock lock(&third.mu);
  CHECK(third.status.code() == absl::StatusCode::kCancelled);
}

TEST_CASE("http client shutdown ends running transfers as CANCELLED") {
  FakeHttpServer server([](const ReceivedRequest&) { return Stalled(); });
  auto client = NewClient();
  Outcome outcome;
  client->Start(Post(server), std::make_unique<RecordingHandler>(outcome));
  REQUIRE(outcome.first_data.WaitForNotificationWithTimeout(absl::Seconds(10)));
  client.reset();
  REQUIRE(outcome.done.HasBeenNotified());
  absl::MutexLock lock(&outcome.mu);
  CHECK(outcome.status.code() == absl::StatusCode::kCancelled);
}

}  // namespace
}  // namespace spine::llm
