// The event bus through the real spine-tasks binary: publish and consume with the client
// library, streams that break mid-delivery, nack delays, dead letters and their replay by an
// admin, a full queue, tokens that may not use the bus, a consumer outliving a broker restart,
// and the queue lag in the gateway's /status.
#include <catch2/catch.hpp>
#include <csignal>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "libs/auth/jwt.h"
#include "libs/bus/consumer.h"
#include "libs/bus/publisher.h"
#include "libs/core/clock.h"
#include "libs/rpc/channel.h"
#include "libs/rpc/error_info.h"
#include "libs/rpc/status_convert.h"
#include "nlohmann/json.hpp"
#include "spine/v1/storage.grpc.pb.h"
#include "spine/v1/tasks.grpc.pb.h"
#include "tests/integration/constellation.h"
#include "tests/support/http_client.h"
#include "tests/support/poll.h"

namespace spine::testing {
namespace {

using spine::v1::Delivery;
using spine::v1::SubscribeRequest;

// Fast retries and two deliveries before a dead letter, so the tests take milliseconds; the
// `tiny` queue holds two messages.
const std::map<std::string, std::string> kBusEnv = {
    {"SPINE_BUS_BACKOFF_INITIAL_MS", "50"},
    {"SPINE_BUS_BACKOFF_MAX_MS", "200"},
    {"SPINE_BUS_MAX_DELIVER", "2"},
    {"SPINE_BUS_QUEUE_LIMITS", "tiny=2:65536"},
};

std::string Token(const Constellation& stack, const std::string& subject, const std::string& role) {
  JwtSigner signer(*Ed25519PrivateKey::FromPem(stack.private_key_pem()), RealClock::Instance());
  return *signer.Sign(subject, absl::StrCat(role, "-", subject), role);
}

struct Bus {
  explicit Bus(const std::map<std::string, std::string>& env = kBusEnv,
               const std::vector<std::string>& services = {"tasks"})
      : stack(services, env) {
    INFO(stack.Log("tasks"));
    REQUIRE(stack.WaitHealthy("tasks", absl::Seconds(15)));
    channel = rpc::MakeChannel(stack.GrpcAddress("tasks"), 4 << 20);
    stub = spine::v1::EventBus::NewStub(channel);
    service_token = Token(stack, "tasks", "service");
  }

  std::unique_ptr<grpc::ClientContext> Context(const std::string& token,
                                               absl::Duration timeout = absl::Seconds(10)) const {
    auto context = rpc::MakeClientContext(timeout);
    context->AddMetadata("authorization", "Bearer " + token);
    return context;
  }

  grpc::Status Publish(const std::string& queue, const std::vector<std::string>& ids,
                       const std::string& token, spine::v1::PublishResponse* response = nullptr) {
    spine::v1::PublishRequest request;
    request.set_queue(queue);
    for (const std::string& id : ids) {
      spine::v1::BusMessage* message = request.add_messages();
      message->set_message_id(id);
      message->set_payload("payload of " + id);
    }
    spine::v1::PublishResponse ignored;
    return stub->Publish(Context(token).get(), request, response ? response : &ignored);
  }

  // The queue's stats, or a default (all zero) entry when the broker has no such queue.
  spine::v1::QueueStats Stats(const std::string& queue) {
    spine::v1::GetQueueStatsResponse response;
    const grpc::Status status = stub->GetQueueStats(Context(service_token).get(), {}, &response);
    REQUIRE(status.ok());
    for (const spine::v1::QueueStats& stats : response.queues()) {
      if (stats.queue() == queue) return stats;
    }
    return {};
  }

  Constellation stack;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<spine::v1::EventBus::Stub> stub;
  std::string service_token;
};

// A raw Subscribe stream, for the tests that need to break it or answer by hand.
struct RawSubscriber {
  RawSubscriber(Bus& bus, const std::string& queue, int credits, int ack_deadline_ms = 0) {
    context = bus.Context(bus.service_token, absl::Seconds(60));
    stream = bus.stub->Subscribe(context.get());
    SubscribeRequest start;
    start.mutable_start()->set_queue(queue);
    start.mutable_start()->set_credits(credits);
    start.mutable_start()->set_ack_deadline_ms(ack_deadline_ms);
    REQUIRE(stream->Write(start));
  }
  ~RawSubscriber() {
    context->TryCancel();
    stream->Finish();
  }
  RawSubscriber(const RawSubscriber&) = delete;
  RawSubscriber& operator=(const RawSubscriber&) = delete;

  Delivery Next() {
    Delivery delivery;
    REQUIRE(stream->Read(&delivery));
    return delivery;
  }
  void Nack(const Delivery& delivery, int delay_ms, const std::string& error = "") {
    SubscribeRequest request;
    request.mutable_nack()->set_delivery_id(delivery.delivery_id());
    request.mutable_nack()->set_delay_ms(delay_ms);
    request.mutable_nack()->set_error(error);
    REQUIRE(stream->Write(request));
  }
  void Ack(const Delivery& delivery) {
    SubscribeRequest request;
    request.mutable_ack()->set_delivery_id(delivery.delivery_id());
    REQUIRE(stream->Write(request));
  }

  std::unique_ptr<grpc::ClientContext> context;
  std::unique_ptr<grpc::ClientReaderWriter<SubscribeRequest, Delivery>> stream;
};

// Messages a Consumer's handler has seen, with a wait for a count.
class Received {
 public:
  absl::Status Handle(const bus::ReceivedMessage& message) {
    absl::MutexLock lock(&mu_);
    messages_.push_back(message);
    return absl::OkStatus();
  }
  bool WaitFor(size_t count, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return messages_.size() >= count; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
  }
  std::vector<bus::ReceivedMessage> messages() {
    absl::MutexLock lock(&mu_);
    return messages_;
  }

 private:
  absl::Mutex mu_;
  std::vector<bus::ReceivedMessage> messages_ ABSL_GUARDED_BY(mu_);
};

bus::ConsumerOptions ConsumerFor(const Bus& bus, const std::string& queue) {
  bus::ConsumerOptions options;
  options.queue = queue;
  options.consumer_name = "test-consumer";
  options.service_token = bus.service_token;
  options.concurrency = 2;
  options.reconnect_initial_backoff = absl::Milliseconds(50);
  options.reconnect_max_backoff = absl::Milliseconds(500);
  return options;
}

}  // namespace

TEST_CASE("bus: published messages reach a consumer once each and leave the queue") {
  Bus bus;
  bus::PublisherOptions publisher_options;
  publisher_options.service_token = bus.service_token;
  bus::Publisher publisher(bus.channel, publisher_options);
  std::vector<bus::OutgoingMessage> messages;
  messages.reserve(20);
  for (int i = 0; i < 20; ++i) {
    messages.push_back({.id = absl::StrCat("m", i),
                        .payload = absl::StrCat("payload ", i),
                        .headers = {{"kind", "test"}},
                        .reply_to_delivery_id = {}});
  }
  absl::StatusOr<bus::Published> first = publisher.Publish("jobs", {messages[0], messages[1]});
  REQUIRE(first.ok());
  CHECK(first->accepted == 2);
  // The batch path, with the first two again: stored once.
  absl::StatusOr<bus::Published> batch = publisher.PublishBatch("jobs", messages, 7);
  REQUIRE(batch.ok());
  CHECK(batch->accepted == 18);
  CHECK(batch->duplicates == 2);
  CHECK(bus.Stats("jobs").depth() == 20);

  Received received;
  auto consumer =
      bus::Consumer::Start(bus.channel, ConsumerFor(bus, "jobs"),
                           [&](const bus::ReceivedMessage& m) { return received.Handle(m); });
  REQUIRE(consumer.ok());
  REQUIRE(received.WaitFor(20, absl::Seconds(10)));
  std::set<std::string> ids;
  for (const bus::ReceivedMessage& m : received.messages()) {
    ids.insert(m.message_id);
    CHECK(m.attempt == 1);
    CHECK(m.queue == "jobs");
    CHECK(m.headers.at("kind") == "test");
    CHECK(m.payload == "payload " + m.message_id.substr(1));
  }
  CHECK(ids.size() == 20);
  CHECK(PollUntil([&] { return bus.Stats("jobs").in_flight() == 0; }));
  CHECK(bus.Stats("jobs").depth() == 0);
  CHECK((*consumer)->Stats().handled == 20);
}

TEST_CASE("bus: a stream broken mid-delivery gives the message to the next consumer, attempt 2") {
  Bus bus;
  REQUIRE(bus.Publish("jobs", {"m1"}, bus.service_token).ok());
  {
    RawSubscriber first(bus, "jobs", 1);
    const Delivery delivery = first.Next();
    CHECK(delivery.attempt() == 1);
    CHECK(delivery.message().message_id() == "m1");
    CHECK(bus.Stats("jobs").in_flight() == 1);
    first.context->TryCancel();  // gone without acking
  }
  Received received;
  auto consumer =
      bus::Consumer::Start(bus.channel, ConsumerFor(bus, "jobs"),
                           [&](const bus::ReceivedMessage& m) { return received.Handle(m); });
  REQUIRE(consumer.ok());
  REQUIRE(received.WaitFor(1, absl::Seconds(10)));
  const std::vector<bus::ReceivedMessage> got = received.messages();
  CHECK(got[0].message_id == "m1");
  CHECK(got[0].attempt == 2);
}

TEST_CASE("bus: a nacked message comes back after the delay it asked for") {
  Bus bus;
  RawSubscriber subscriber(bus, "jobs", 1);
  REQUIRE(bus.Publish("jobs", {"m1"}, bus.service_token).ok());
  const Delivery first = subscriber.Next();
  const absl::Time nacked = absl::Now();
  subscriber.Nack(first, 600);
  const Delivery second = subscriber.Next();
  CHECK(absl::Now() - nacked >= absl::Milliseconds(600));
  CHECK(second.attempt() == 2);
  CHECK(second.message().message_id() == "m1");
  CHECK(second.delivery_id() != first.delivery_id());
  subscriber.Ack(second);
  CHECK(PollUntil([&] { return bus.Stats("jobs").in_flight() == 0; }));
}

TEST_CASE("bus: after maxDeliver a message is dead-lettered, listed and replayed by an admin") {
  Bus bus(kBusEnv, {"storage", "tasks"});  // storage keeps the audit log
  const std::string admin = Token(bus.stack, "1", "admin");
  RawSubscriber subscriber(bus, "jobs", 1);
  REQUIRE(bus.Publish("jobs", {"m1"}, bus.service_token).ok());
  subscriber.Nack(subscriber.Next(), 0, "first failure");
  const Delivery second = subscriber.Next();  // after the 50 ms backoff
  CHECK(second.attempt() == 2);
  subscriber.Nack(second, 0, "second failure");
  REQUIRE(PollUntil([&] { return bus.Stats("jobs").dead_letters() == 1; }));
  CHECK(bus.Stats("jobs").depth() == 0);

  spine::v1::ListDeadLettersRequest list;
  list.set_queue("jobs");
  spine::v1::ListDeadLettersResponse listed;
  // Dead letters are for admins: a service token may not list them.
  CHECK(
      bus.stub->ListDeadLetters(bus.Context(bus.service_token).get(), list, &listed).error_code() ==
      grpc::StatusCode::PERMISSION_DENIED);
  REQUIRE(bus.stub->ListDeadLetters(bus.Context(admin).get(), list, &listed).ok());
  REQUIRE(listed.dead_letters_size() == 1);
  CHECK(listed.dead_letters(0).message().message_id() == "m1");
  CHECK(listed.dead_letters(0).message().payload() == "payload of m1");
  CHECK(listed.dead_letters(0).attempts() == 2);
  CHECK(listed.dead_letters(0).last_error() == "second failure");

  spine::v1::ReplayDeadLettersRequest replay;
  replay.set_queue("jobs");
  replay.add_message_ids("m1");
  spine::v1::ReplayDeadLettersResponse replayed;
  REQUIRE(bus.stub->ReplayDeadLetters(bus.Context(admin).get(), replay, &replayed).ok());
  CHECK(replayed.replayed() == 1);
  const Delivery again = subscriber.Next();
  CHECK(again.message().message_id() == "m1");
  CHECK(again.attempt() == 1);
  CHECK(bus.Stats("jobs").dead_letters() == 0);
  // The list and the replay are in the audit log in spine-storage, under the admin, by tasks.
  auto storage = spine::v1::StorageService::NewStub(
      rpc::MakeChannel(bus.stack.GrpcAddress("storage"), 4 << 20));
  CHECK(PollUntil([&] {
    spine::v1::ListAuditEventsRequest request;
    request.set_actor("1");
    spine::v1::ListAuditEventsResponse events;
    if (!storage->ListAuditEvents(bus.Context(admin).get(), request, &events).ok()) return false;
    std::set<std::string> actions;
    for (const auto& event : events.events()) {
      if (event.service() == "tasks") actions.insert(event.action());
    }
    return actions.count("bus.replay_dead_letters") == 1 &&
           actions.count("bus.list_dead_letters") == 1;
  }));
}

TEST_CASE("bus: a publish to a full queue is RESOURCE_EXHAUSTED with QUEUE_FULL and a hint") {
  Bus bus;
  REQUIRE(bus.Publish("tiny", {"a", "b"}, bus.service_token).ok());
  const grpc::Status full = bus.Publish("tiny", {"c"}, bus.service_token);
  REQUIRE(full.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  std::optional<google::rpc::ErrorInfo> info = rpc::GetErrorInfo(rpc::FromGrpcStatus(full));
  REQUIRE(info);
  CHECK(info->reason() == "QUEUE_FULL");
  CHECK(info->metadata().at("queue") == "tiny");
  CHECK(info->metadata().at("retryAfterSeconds") == "1");
  CHECK(bus.Stats("tiny").depth() == 2);
  // The Publisher gives up after its attempts with the same error.
  bus::PublisherOptions options;
  options.service_token = bus.service_token;
  options.max_attempts = 2;
  options.initial_backoff = absl::Milliseconds(10);
  bus::Publisher publisher(bus.channel, options);
  absl::StatusOr<bus::Published> refused = publisher.Publish(
      "tiny", {{.id = "c", .payload = "x", .headers = {}, .reply_to_delivery_id = {}}});
  CHECK(refused.status().code() == absl::StatusCode::kResourceExhausted);
  // Bad input is INVALID_ARGUMENT and stores nothing.
  CHECK(bus.Publish("bad queue", {"a"}, bus.service_token).error_code() ==
        grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(bus.Publish("jobs", {""}, bus.service_token).error_code() ==
        grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(bus.Stats("jobs").depth() == 0);
}

TEST_CASE("bus: a user's token may neither publish nor subscribe") {
  Bus bus;
  const std::string user = Token(bus.stack, "7", "user");
  CHECK(bus.Publish("jobs", {"m1"}, user).error_code() == grpc::StatusCode::PERMISSION_DENIED);
  CHECK(bus.Publish("jobs", {"m1"}, "not-a-jwt").error_code() == grpc::StatusCode::UNAUTHENTICATED);
  auto context = bus.Context(user);
  auto stream = bus.stub->Subscribe(context.get());
  SubscribeRequest start;
  start.mutable_start()->set_queue("jobs");
  start.mutable_start()->set_credits(1);
  stream->Write(start);
  Delivery delivery;
  CHECK_FALSE(stream->Read(&delivery));
  CHECK(stream->Finish().error_code() == grpc::StatusCode::PERMISSION_DENIED);
  CHECK(bus.Stats("jobs").depth() == 0);
}

TEST_CASE("bus: a Subscribe stream must begin with start") {
  Bus bus;
  auto context = bus.Context(bus.service_token);
  auto stream = bus.stub->Subscribe(context.get());
  SubscribeRequest credit;
  credit.set_credit(5);
  stream->Write(credit);
  Delivery delivery;
  CHECK_FALSE(stream->Read(&delivery));
  const grpc::Status status = stream->Finish();
  CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(status.error_message().find("start") != std::string::npos);
}

TEST_CASE("bus: a consumer reconnects after the broker restarts and consumes again") {
  Bus bus;
  Received received;
  auto consumer =
      bus::Consumer::Start(bus.channel, ConsumerFor(bus, "jobs"),
                           [&](const bus::ReceivedMessage& m) { return received.Handle(m); });
  REQUIRE(consumer.ok());
  REQUIRE((*consumer)->WaitConnected(absl::Seconds(10)));
  bus.stack.process("tasks").Signal(SIGKILL);
  REQUIRE(bus.stack.process("tasks").WaitExit(absl::Seconds(10)).has_value());
  bus.stack.Restart("tasks");
  REQUIRE(bus.stack.WaitHealthy("tasks", absl::Seconds(15)));
  REQUIRE(bus.Publish("jobs", {"after-restart"}, bus.service_token).ok());
  REQUIRE(received.WaitFor(1, absl::Seconds(15)));
  CHECK(received.messages()[0].message_id == "after-restart");
  CHECK((*consumer)->Stats().connects >= 2);
}

TEST_CASE("bus: /status reports the age of the oldest undelivered message as queueLag") {
  Bus bus;
  // /status needs the gateway (and the gateway its storage).
  bus.stack.Restart("storage");
  bus.stack.Restart("gateway");
  REQUIRE(bus.stack.WaitHealthy("storage", absl::Seconds(15)));
  REQUIRE(bus.stack.WaitHealthy("gateway", absl::Seconds(15)));
  auto queue_lag = [&]() -> int64_t {
    const HttpResult status = HttpRequestTo(bus.stack.http_port(), "GET", "/status");
    if (status.status != 200) return -1;
    const nlohmann::json body = nlohmann::json::parse(status.body);
    return body.value("queueLag", int64_t{-1});
  };
  CHECK(PollUntil([&] { return queue_lag() == 0; }));
  REQUIRE(bus.Publish("jobs", {"waiting"}, bus.service_token).ok());
  // The message ages while nobody consumes it.
  CHECK(PollUntil([&] { return queue_lag() >= 500; }));
  RawSubscriber subscriber(bus, "jobs", 1);
  subscriber.Ack(subscriber.Next());
  CHECK(PollUntil([&] { return queue_lag() == 0; }));
}

}  // namespace spine::testing
