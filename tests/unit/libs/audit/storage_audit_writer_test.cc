// StorageAuditWriter against a fake StorageService that records what it is sent and fails on
// demand: events arrive in order with the service token and request id, transient failures are
// retried, other failures and a full queue are counted, and shutdown flushes what is queued.
#include "libs/audit/storage_audit_writer.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "spine/v1/storage.grpc.pb.h"
#include "tests/support/child_process.h"
#include "tests/support/poll.h"

namespace spine::audit {
namespace {

using spine::v1::AuditEvent;

class FakeStorage final : public spine::v1::StorageService::Service {
 public:
  grpc::Status AppendAuditEvents(grpc::ServerContext* context,
                                 const spine::v1::AppendAuditEventsRequest* request,
                                 spine::v1::AppendAuditEventsResponse* response) override {
    // Held here while the gate is closed, so a test can fill the writer's queue.
    absl::MutexLock lock(&mu_);
    ++arrived_;
    mu_.Await(absl::Condition(&open_));
    ++calls_;
    const auto& metadata = context->client_metadata();
    auto auth = metadata.find("authorization");
    authorization_ =
        auth == metadata.end() ? "" : std::string(auth->second.data(), auth->second.size());
    auto rid = metadata.find("x-request-id");
    request_ids_.push_back(
        rid == metadata.end() ? "" : std::string(rid->second.data(), rid->second.size()));
    batch_sizes_.push_back(request->events_size());
    if (fail_next_ > 0) {
      --fail_next_;
      return {fail_code_, "storage says no"};
    }
    // As storage does: one invalid event refuses the whole batch.
    for (const AuditEvent& event : request->events()) {
      if (event.action() == "bad") return {grpc::StatusCode::INVALID_ARGUMENT, "events[i].action"};
    }
    for (const AuditEvent& event : request->events()) actions_.push_back(event.action());
    response->set_appended(request->events_size());
    return grpc::Status::OK;
  }

  std::vector<int> batch_sizes() const {
    absl::MutexLock lock(&mu_);
    return batch_sizes_;
  }

  void FailNext(int count, grpc::StatusCode code) {
    absl::MutexLock lock(&mu_);
    fail_next_ = count;
    fail_code_ = code;
  }
  void Open() {
    absl::MutexLock lock(&mu_);
    open_ = true;
  }
  std::vector<std::string> actions() const {
    absl::MutexLock lock(&mu_);
    return actions_;
  }
  int arrived() const {
    absl::MutexLock lock(&mu_);
    return arrived_;
  }
  int calls() const {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  std::string authorization() const {
    absl::MutexLock lock(&mu_);
    return authorization_;
  }
  std::vector<std::string> request_ids() const {
    absl::MutexLock lock(&mu_);
    return request_ids_;
  }

 private:
  mutable absl::Mutex mu_;
  bool open_ = false;
  int arrived_ = 0;  // calls received, counted before the gate
  int calls_ = 0;
  int fail_next_ = 0;
  grpc::StatusCode fail_code_ = grpc::StatusCode::OK;
  std::string authorization_;
  std::vector<std::string> actions_;
  std::vector<int> batch_sizes_;
  std::vector<std::string> request_ids_;
};

struct Fixture {
  explicit Fixture(bool open = true) {
    if (open) storage.Open();
    const std::string address = "127.0.0.1:" + std::to_string(testing::FreeLoopbackPort());
    grpc::ServerBuilder builder;
    builder.AddListeningPort(address, grpc::InsecureServerCredentials());
    builder.RegisterService(&storage);
    server = builder.BuildAndStart();
    REQUIRE(server != nullptr);
    channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  }
  ~Fixture() {
    storage.Open();
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  }

  static AuditEvent Event(const std::string& action, const std::string& request_id = "") {
    AuditEvent event;
    event.set_action(action);
    event.set_actor("7");
    event.set_target("model:stub");
    event.set_outcome("ok");
    event.set_request_id(request_id);
    return event;
  }

  FakeStorage storage;
  std::unique_ptr<grpc::Server> server;
  std::shared_ptr<grpc::Channel> channel;
};

bool WaitFor(const std::function<bool()>& condition) { return testing::PollUntil(condition); }

AuditWriterOptions FastRetries() {
  AuditWriterOptions options;
  options.retry_pause = absl::Milliseconds(1);
  options.deadline = absl::Seconds(5);
  return options;
}

TEST_CASE("events are written in order with the service token and request id", "[audit]") {
  Fixture fixture;
  StorageAuditWriter writer(fixture.channel, "service-token", FastRetries());
  writer.Record(Fixture::Event("llm.generate", "req-1"));
  REQUIRE(writer.Flush(absl::Seconds(10)));
  writer.Record(Fixture::Event("llm.stream", "not a valid id!"));
  REQUIRE(writer.Flush(absl::Seconds(10)));
  writer.Record(Fixture::Event("llm.conversation.reply"));
  REQUIRE(writer.Flush(absl::Seconds(10)));
  CHECK(fixture.storage.actions() ==
        std::vector<std::string>{"llm.generate", "llm.stream", "llm.conversation.reply"});
  CHECK(fixture.storage.authorization() == "Bearer service-token");
  // An invalid id is not forwarded; the storage interceptor would replace it anyway.
  REQUIRE(fixture.storage.request_ids().size() == 3);
  CHECK(fixture.storage.request_ids()[0] == "req-1");
  CHECK(fixture.storage.request_ids()[1].empty());
  const AuditWriterStats stats = writer.Stats();
  CHECK(stats.written == 3);
  CHECK(stats.failed == 0);
  CHECK(stats.dropped == 0);
  CHECK(stats.queued == 0);
}

TEST_CASE("a transient failure is retried until it is written", "[audit]") {
  Fixture fixture;
  fixture.storage.FailNext(2, grpc::StatusCode::UNAVAILABLE);
  StorageAuditWriter writer(fixture.channel, "t", FastRetries());
  writer.Record(Fixture::Event("llm.generate"));
  REQUIRE(writer.Flush(absl::Seconds(10)));
  CHECK(fixture.storage.calls() == 3);
  CHECK(fixture.storage.actions() == std::vector<std::string>{"llm.generate"});
  CHECK(writer.Stats().written == 1);
  CHECK(writer.Stats().failed == 0);
}

TEST_CASE("a write that keeps failing is given up and counted", "[audit]") {
  Fixture fixture;
  fixture.storage.FailNext(3, grpc::StatusCode::UNAVAILABLE);
  StorageAuditWriter writer(fixture.channel, "t", FastRetries());
  writer.Record(Fixture::Event("llm.generate"));
  REQUIRE(writer.Flush(absl::Seconds(10)));
  CHECK(writer.Stats().failed == 1);
  writer.Record(Fixture::Event("llm.stream"));
  REQUIRE(writer.Flush(absl::Seconds(10)));
  // Three attempts for the first (max_attempts), one for the second.
  CHECK(fixture.storage.calls() == 4);
  CHECK(fixture.storage.actions() == std::vector<std::string>{"llm.stream"});
  CHECK(writer.Stats().written == 1);
  CHECK(writer.Stats().failed == 1);
}

TEST_CASE("a refused event is not retried", "[audit]") {
  Fixture fixture;
  fixture.storage.FailNext(1, grpc::StatusCode::INVALID_ARGUMENT);
  StorageAuditWriter writer(fixture.channel, "t", FastRetries());
  writer.Record(Fixture::Event("llm.generate"));
  REQUIRE(writer.Flush(absl::Seconds(10)));
  CHECK(fixture.storage.calls() == 1);
  CHECK(writer.Stats().failed == 1);
}

TEST_CASE("a full queue drops and counts, and never blocks Record", "[audit]") {
  Fixture fixture(/*open=*/false);
  AuditWriterOptions options = FastRetries();
  options.queue_limit = 2;
  StorageAuditWriter writer(fixture.channel, "t", options);
  writer.Record(Fixture::Event("first"));
  // The first event is taken out and held in the fake; then two fit in the queue.
  REQUIRE(WaitFor([&] { return fixture.storage.arrived() == 1; }));
  writer.Record(Fixture::Event("second"));
  writer.Record(Fixture::Event("third"));
  writer.Record(Fixture::Event("fourth"));
  CHECK(writer.Stats().dropped == 1);
  fixture.storage.Open();
  REQUIRE(writer.Flush(absl::Seconds(10)));
  CHECK(fixture.storage.actions() == std::vector<std::string>{"first", "second", "third"});
  CHECK(writer.Stats().written == 3);
  // What queued while the first was in flight went in one call.
  CHECK(fixture.storage.batch_sizes() == std::vector<int>{1, 2});
}

TEST_CASE("a batch refused for one bad event is written event by event", "[audit]") {
  Fixture fixture(/*open=*/false);
  StorageAuditWriter writer(fixture.channel, "t", FastRetries());
  writer.Record(Fixture::Event("first"));
  REQUIRE(WaitFor([&] { return fixture.storage.arrived() == 1; }));
  writer.Record(Fixture::Event("good1"));
  writer.Record(Fixture::Event("bad"));
  writer.Record(Fixture::Event("good2"));
  fixture.storage.Open();
  REQUIRE(writer.Flush(absl::Seconds(10)));
  CHECK(fixture.storage.actions() == std::vector<std::string>{"first", "good1", "good2"});
  CHECK(fixture.storage.batch_sizes() == std::vector<int>{1, 3, 1, 1, 1});
  CHECK(writer.Stats().written == 3);
  CHECK(writer.Stats().failed == 1);
}

TEST_CASE("a burst larger than a batch goes in batches of batch_limit", "[audit]") {
  Fixture fixture(/*open=*/false);
  AuditWriterOptions options = FastRetries();
  options.batch_limit = 4;
  StorageAuditWriter writer(fixture.channel, "t", options);
  writer.Record(Fixture::Event("held"));
  REQUIRE(WaitFor([&] { return fixture.storage.arrived() == 1; }));
  for (int i = 0; i < 10; ++i) writer.Record(Fixture::Event("e" + std::to_string(i)));
  fixture.storage.Open();
  REQUIRE(writer.Flush(absl::Seconds(10)));
  CHECK(fixture.storage.batch_sizes() == std::vector<int>{1, 4, 4, 2});
  CHECK(fixture.storage.actions().size() == 11);
}

TEST_CASE("destruction writes out what is queued", "[audit]") {
  Fixture fixture;
  {
    StorageAuditWriter writer(fixture.channel, "t", FastRetries());
    for (int i = 0; i < 50; ++i) writer.Record(Fixture::Event("e" + std::to_string(i)));
  }
  CHECK(fixture.storage.actions().size() == 50);
}

TEST_CASE("storage down: every event is counted as failed, none silently lost", "[audit]") {
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(testing::FreeLoopbackPort()),
                                     grpc::InsecureChannelCredentials());
  AuditWriterOptions options = FastRetries();
  options.deadline = absl::Milliseconds(200);
  StorageAuditWriter writer(channel, "t", options);
  writer.Record(Fixture::Event("a"));
  writer.Record(Fixture::Event("b"));
  REQUIRE(writer.Flush(absl::Seconds(10)));
  const AuditWriterStats stats = writer.Stats();
  CHECK(stats.written == 0);
  CHECK(stats.failed == 2);
}

}  // namespace
}  // namespace spine::audit
