// BrokerTicker: fires the broker's timers on the real clock without anyone calling Tick.
#include "libs/bus/broker_ticker.h"

#include <catch2/catch.hpp>
#include <memory>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "libs/bus/broker.h"
#include "libs/core/clock.h"

namespace spine::bus {
namespace {

// Keeps deliveries and lets a test wait for a count of them.
class WaitableSink final : public DeliverySink {
 public:
  void Deliver(Delivery delivery) override {
    absl::MutexLock lock(&mu_);
    deliveries_.push_back(std::move(delivery));
  }
  // The first `count` deliveries, or fewer when `timeout` passed first.
  std::vector<Delivery> WaitFor(size_t count, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return deliveries_.size() >= count; };
    mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
    return deliveries_;
  }

 private:
  absl::Mutex mu_;
  std::vector<Delivery> deliveries_ ABSL_GUARDED_BY(mu_);
};

TEST_CASE("the ticker redelivers a nacked message once its delay has passed") {
  RealClock& clock = RealClock::Instance();
  BrokerOptions options;
  options.default_ack_deadline = absl::Seconds(30);
  auto broker = Broker::Create(clock, options);
  REQUIRE(broker.ok());
  BrokerTicker ticker(**broker, clock);
  auto sink = std::make_shared<WaitableSink>();
  absl::StatusOr<SubscriptionId> sub =
      (*broker)->Subscribe("jobs", "c", 1, absl::ZeroDuration(), sink);
  REQUIRE(sub.ok());
  Message message;
  message.id = "m1";
  REQUIRE((*broker)->Publish("jobs", {message}).ok());
  std::vector<Delivery> got = sink->WaitFor(1, absl::Seconds(10));
  REQUIRE(got.size() == 1);
  const absl::Time nacked = clock.MonotonicNow();
  REQUIRE((*broker)->Nack(*sub, got[0].delivery_id, absl::Milliseconds(30)).ok());
  got = sink->WaitFor(2, absl::Seconds(10));
  REQUIRE(got.size() == 2);
  CHECK(got[1].attempt == 2);
  // Not before its time (the ticker may be late, never early).
  CHECK(clock.MonotonicNow() - nacked >= absl::Milliseconds(30));
}

TEST_CASE("the ticker expires an ack deadline on its own") {
  RealClock& clock = RealClock::Instance();
  BrokerOptions options;
  options.initial_backoff = absl::Milliseconds(10);
  auto broker = Broker::Create(clock, options);
  REQUIRE(broker.ok());
  BrokerTicker ticker(**broker, clock);
  auto sink = std::make_shared<WaitableSink>();
  REQUIRE((*broker)->Subscribe("jobs", "c", 1, absl::Milliseconds(20), sink).ok());
  Message message;
  message.id = "m1";
  REQUIRE((*broker)->Publish("jobs", {message}).ok());
  const std::vector<Delivery> got = sink->WaitFor(2, absl::Seconds(10));
  REQUIRE(got.size() == 2);
  CHECK(got[0].attempt == 1);
  CHECK(got[1].attempt == 2);
}

}  // namespace
}  // namespace spine::bus
