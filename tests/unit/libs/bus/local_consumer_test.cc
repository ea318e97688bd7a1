// LocalConsumer: deliveries of the in-process broker reach the handler, acked when it succeeds
// and nacked when it fails; what was published before it subscribed is handled too; after Stop
// nothing more is handled and what it held goes back to the queue.
#include "libs/bus/local_consumer.h"

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "libs/core/clock.h"

namespace spine::bus {
namespace {

Message Msg(const std::string& id) {
  Message message;
  message.id = id;
  message.payload = "payload of " + id;
  return message;
}

// Records the messages it is given; fails the ones whose id is in `fail`.
struct Recorder {
  absl::Status Handle(const Message& message) {
    absl::MutexLock lock(&mu);
    seen.push_back(message.id);
    publishers.push_back(message.publisher);
    return fail == message.id ? absl::UnavailableError("not now") : absl::OkStatus();
  }
  std::vector<std::string> Seen() {
    absl::MutexLock lock(&mu);
    return seen;
  }

  absl::Mutex mu;
  std::string fail;
  std::vector<std::string> seen ABSL_GUARDED_BY(mu);
  std::vector<std::string> publishers ABSL_GUARDED_BY(mu);
};

struct Fixture {
  Fixture() {
    BrokerOptions options;
    options.initial_backoff = absl::Milliseconds(200);
    options.jitter = 0;
    broker = *Broker::Create(clock, options, [] { return 0.5; });
  }
  std::unique_ptr<LocalConsumer> Start() {
    auto consumer =
        LocalConsumer::Start(*broker, {.queue = "q", .consumer_name = "test", .owner = "tasks"},
                             [this](const Message& message) { return recorder.Handle(message); });
    REQUIRE(consumer.ok());
    return *std::move(consumer);
  }
  int64_t Depth() {
    for (const QueueStats& stats : broker->Stats()) {
      if (stats.queue == "q") return stats.depth + stats.in_flight;
    }
    return 0;
  }

  FakeClock clock;
  std::unique_ptr<Broker> broker;
  Recorder recorder;
};

TEST_CASE("a local consumer handles what was waiting and what comes, and acks it") {
  Fixture f;
  REQUIRE(f.broker->Publish("q", {Msg("early")}, "llm").ok());
  const std::unique_ptr<LocalConsumer> consumer = f.Start();
  REQUIRE(f.broker->Publish("q", {Msg("later")}, "plugins").ok());
  CHECK(f.recorder.Seen() == std::vector<std::string>{"early", "later"});
  {
    absl::MutexLock lock(&f.recorder.mu);
    CHECK(f.recorder.publishers == std::vector<std::string>{"llm", "plugins"});
  }
  CHECK(f.Depth() == 0);  // both acked
}

TEST_CASE("a local consumer nacks what its handler fails, and it comes again") {
  Fixture f;
  f.recorder.fail = "flaky";
  const std::unique_ptr<LocalConsumer> consumer = f.Start();
  REQUIRE(f.broker->Publish("q", {Msg("flaky")}).ok());
  CHECK(f.recorder.Seen() == std::vector<std::string>{"flaky"});
  CHECK(f.Depth() == 1);
  f.recorder.fail.clear();
  f.clock.Advance(absl::Milliseconds(200));
  f.broker->Tick();
  CHECK(f.recorder.Seen() == std::vector<std::string>{"flaky", "flaky"});
  CHECK(f.Depth() == 0);
}

TEST_CASE("after Stop a local consumer handles nothing and the queue keeps its messages") {
  Fixture f;
  const std::unique_ptr<LocalConsumer> consumer = f.Start();
  consumer->Stop();
  consumer->Stop();  // idempotent
  REQUIRE(f.broker->Publish("q", {Msg("after")}).ok());
  CHECK(f.recorder.Seen().empty());
  CHECK(f.Depth() == 1);
}

}  // namespace
}  // namespace spine::bus
