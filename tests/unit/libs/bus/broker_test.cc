// Broker: delivery, credits, redelivery timing, backoff, dedupe, dead letters and bounds, on a
// fake clock with the jitter fixed.
#include "libs/bus/broker.h"

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "libs/core/clock.h"

namespace spine::bus {
namespace {

// Records every delivery it gets.
class RecordingSink final : public DeliverySink {
 public:
  void Deliver(Delivery delivery) override {
    absl::MutexLock lock(&mu_);
    deliveries_.push_back(std::move(delivery));
  }
  std::vector<Delivery> Take() {
    absl::MutexLock lock(&mu_);
    std::vector<Delivery> taken;
    taken.swap(deliveries_);
    return taken;
  }

 private:
  absl::Mutex mu_;
  std::vector<Delivery> deliveries_ ABSL_GUARDED_BY(mu_);
};

Message Msg(const std::string& id, const std::string& payload = "p") {
  Message message;
  message.id = id;
  message.payload = payload;
  return message;
}

// Options with round numbers: backoff 200 ms doubling to at most 1 s, ack deadline 1 s.
BrokerOptions TestOptions() {
  BrokerOptions options;
  options.initial_backoff = absl::Milliseconds(200);
  options.backoff_multiplier = 2.0;
  options.max_backoff = absl::Seconds(1);
  options.jitter = 0.2;
  options.default_ack_deadline = absl::Seconds(1);
  options.max_deliver = 3;
  options.dedupe_window = absl::Minutes(1);
  return options;
}

struct Fixture {
  explicit Fixture(BrokerOptions options = TestOptions()) {
    // 0.5 is the middle of the jitter range: factor 1.0, so backoffs are exact.
    broker = *Broker::Create(clock, std::move(options), [this] { return random_value; });
  }
  SubscriptionId Subscribe(const std::string& queue, int credits,
                           absl::Duration ack_deadline = absl::ZeroDuration()) {
    absl::StatusOr<SubscriptionId> id = broker->Subscribe(queue, "c", credits, ack_deadline, sink);
    REQUIRE(id.ok());
    return *id;
  }
  void Publish(const std::string& queue, const std::string& id) {
    absl::StatusOr<PublishResult> result = broker->Publish(queue, {Msg(id)});
    REQUIRE(result.ok());
    REQUIRE(result->accepted == 1);
  }
  void Advance(absl::Duration d) {
    clock.Advance(d);
    broker->Tick();
  }
  QueueStats StatsOf(const std::string& queue) {
    for (const QueueStats& stats : broker->Stats()) {
      if (stats.queue == queue) return stats;
    }
    FAIL("no stats for " << queue);
    return {};
  }

  FakeClock clock;
  double random_value = 0.5;
  std::unique_ptr<Broker> broker;
  std::shared_ptr<RecordingSink> sink = std::make_shared<RecordingSink>();
};

TEST_CASE("a published message is delivered once with attempt 1 and leaves the queue when acked") {
  Fixture f;
  f.Publish("jobs", "m1");
  CHECK(f.StatsOf("jobs").depth == 1);
  const SubscriptionId sub = f.Subscribe("jobs", 10);
  std::vector<Delivery> got = f.sink->Take();
  REQUIRE(got.size() == 1);
  CHECK(got[0].attempt == 1);
  CHECK(got[0].message->id == "m1");
  CHECK(got[0].message->payload == "p");
  CHECK(got[0].message->publish_time == f.clock.Now());
  CHECK(got[0].ack_deadline == f.clock.Now() + absl::Seconds(1));
  CHECK(f.StatsOf("jobs").depth == 0);
  CHECK(f.StatsOf("jobs").in_flight == 1);
  REQUIRE(f.broker->Ack(sub, got[0].delivery_id).ok());
  const QueueStats stats = f.StatsOf("jobs");
  CHECK(stats.depth == 0);
  CHECK(stats.in_flight == 0);
  CHECK(stats.bytes == 0);
  // Acking twice: the delivery is gone.
  CHECK(f.broker->Ack(sub, got[0].delivery_id).code() == absl::StatusCode::kNotFound);
  f.Advance(absl::Minutes(5));
  CHECK(f.sink->Take().empty());
}

TEST_CASE("a subscription never holds more unacked deliveries than its credits") {
  Fixture f;
  for (int i = 0; i < 6; ++i) f.Publish("jobs", "m" + std::to_string(i));
  const SubscriptionId sub = f.Subscribe("jobs", 2);
  std::vector<Delivery> got = f.sink->Take();
  REQUIRE(got.size() == 2);
  CHECK(got[0].message->id == "m0");
  CHECK(got[1].message->id == "m1");
  CHECK(f.StatsOf("jobs").in_flight == 2);
  CHECK(f.StatsOf("jobs").depth == 4);

  // An ack frees one slot: exactly one more arrives.
  REQUIRE(f.broker->Ack(sub, got[0].delivery_id).ok());
  got = f.sink->Take();
  REQUIRE(got.size() == 1);
  CHECK(got[0].message->id == "m2");

  // A grant widens the window by that much.
  REQUIRE(f.broker->Grant(sub, 2).ok());
  CHECK(f.sink->Take().size() == 2);
  CHECK(f.StatsOf("jobs").in_flight == 4);
  CHECK(f.StatsOf("jobs").depth == 1);

  SECTION("grants must be positive and the total at most max_credits") {
    CHECK(f.broker->Grant(sub, 0).code() == absl::StatusCode::kInvalidArgument);
    CHECK(f.broker->Grant(sub, -1).code() == absl::StatusCode::kInvalidArgument);
    CHECK(f.broker->Grant(sub, 997).code() == absl::StatusCode::kInvalidArgument);
    CHECK(f.broker->Grant(sub, 996).ok());
    CHECK(f.broker->Grant(999, 1).code() == absl::StatusCode::kNotFound);
  }
}

TEST_CASE("subscribe checks its credits and ack deadline") {
  Fixture f;
  auto subscribe = [&](int credits, absl::Duration deadline) {
    return f.broker->Subscribe("jobs", "c", credits, deadline, f.sink).status().code();
  };
  CHECK(subscribe(0, absl::ZeroDuration()) == absl::StatusCode::kInvalidArgument);
  CHECK(subscribe(1001, absl::ZeroDuration()) == absl::StatusCode::kInvalidArgument);
  CHECK(subscribe(1, -absl::Seconds(1)) == absl::StatusCode::kInvalidArgument);
  CHECK(subscribe(1, absl::Minutes(11)) == absl::StatusCode::kInvalidArgument);
  CHECK(f.broker->Subscribe("bad name", "c", 1, absl::ZeroDuration(), f.sink).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(subscribe(1000, absl::Minutes(10)) == absl::StatusCode::kOk);
}

TEST_CASE("a delivery not acked within its deadline is redelivered after the backoff") {
  Fixture f;
  const SubscriptionId sub = f.Subscribe("jobs", 1);
  f.Publish("jobs", "m1");
  const std::vector<Delivery> first = f.sink->Take();
  REQUIRE(first.size() == 1);

  f.Advance(absl::Milliseconds(999));
  CHECK(f.StatsOf("jobs").in_flight == 1);
  f.Advance(absl::Milliseconds(1));  // the ack deadline: back to the queue, retry in 200 ms
  CHECK(f.StatsOf("jobs").in_flight == 0);
  CHECK(f.StatsOf("jobs").depth == 1);
  f.Advance(absl::Milliseconds(199));
  CHECK(f.sink->Take().empty());
  f.Advance(absl::Milliseconds(1));
  const std::vector<Delivery> second = f.sink->Take();
  REQUIRE(second.size() == 1);
  CHECK(second[0].attempt == 2);
  CHECK(second[0].message->id == "m1");
  CHECK(second[0].delivery_id != first[0].delivery_id);
  // The first delivery is no longer this subscriber's to ack.
  CHECK(f.broker->Ack(sub, first[0].delivery_id).code() == absl::StatusCode::kNotFound);
  CHECK(f.broker->Ack(sub, second[0].delivery_id).ok());
}

TEST_CASE("Tick reports when the next timer is due") {
  Fixture f;
  CHECK(f.broker->Tick() == absl::InfiniteFuture());
  f.Subscribe("jobs", 1, absl::Seconds(5));
  absl::StatusOr<PublishResult> published = f.broker->Publish("jobs", {Msg("m1")});
  REQUIRE(published.ok());
  // The dedupe entry expires in a minute; the ack deadline in 5 s is sooner.
  CHECK(f.broker->Tick() == f.clock.MonotonicNow() + absl::Seconds(5));
}

TEST_CASE("the timer listener hears of a timer earlier than the ticker's") {
  Fixture f;
  std::vector<absl::Time> heard;
  f.broker->SetTimerListener([&heard](absl::Time when) { heard.push_back(when); });
  f.broker->Tick();  // nothing due: the ticker waits forever
  const SubscriptionId sub = f.Subscribe("jobs", 1);
  f.Publish("jobs", "m1");  // dedupe expiry in 1 min, and the ack deadline in 1 s
  REQUIRE_FALSE(heard.empty());
  CHECK(heard.back() == f.clock.MonotonicNow() + absl::Seconds(1));
  const std::vector<Delivery> got = f.sink->Take();
  REQUIRE(got.size() == 1);
  REQUIRE(f.broker->Nack(sub, got[0].delivery_id, absl::Milliseconds(50)).ok());
  CHECK(heard.back() == f.clock.MonotonicNow() + absl::Milliseconds(50));
}

TEST_CASE("backoff grows by the multiplier, is capped, and jitters within its range") {
  Fixture f;
  CHECK(f.broker->Backoff(1) == absl::Milliseconds(200));
  CHECK(f.broker->Backoff(2) == absl::Milliseconds(400));
  CHECK(f.broker->Backoff(3) == absl::Milliseconds(800));
  CHECK(f.broker->Backoff(4) == absl::Seconds(1));
  CHECK(f.broker->Backoff(50) == absl::Seconds(1));
  f.random_value = 0.0;  // the low end: 20 % less
  CHECK(f.broker->Backoff(1) == absl::Milliseconds(160));
  CHECK(f.broker->Backoff(4) == absl::Milliseconds(800));
  f.random_value = 0.999999;  // the high end: 20 % more, but never over the cap
  CHECK(f.broker->Backoff(1) > absl::Milliseconds(239));
  CHECK(f.broker->Backoff(1) <= absl::Milliseconds(240));
  CHECK(f.broker->Backoff(4) == absl::Seconds(1));
}

TEST_CASE("redeliveries of one message wait longer each time, then it is dead-lettered") {
  BrokerOptions options = TestOptions();
  options.max_deliver = 4;
  Fixture f(options);
  const SubscriptionId sub = f.Subscribe("jobs", 1);
  f.Publish("jobs", "m1");
  for (int attempt = 1; attempt <= 3; ++attempt) {
    std::vector<Delivery> got = f.sink->Take();
    REQUIRE(got.size() == 1);
    CHECK(got[0].attempt == attempt);
    REQUIRE(f.broker->Nack(sub, got[0].delivery_id, absl::ZeroDuration()).ok());
    const absl::Duration backoff = absl::Milliseconds(200) * (1 << (attempt - 1));
    f.Advance(backoff - absl::Milliseconds(1));
    CHECK(f.sink->Take().empty());
    f.Advance(absl::Milliseconds(1));
  }
  std::vector<Delivery> last = f.sink->Take();
  REQUIRE(last.size() == 1);
  CHECK(last[0].attempt == 4);
  REQUIRE(f.broker->Nack(sub, last[0].delivery_id, absl::ZeroDuration(), "handler failed").ok());
  const QueueStats stats = f.StatsOf("jobs");
  CHECK(stats.depth == 0);
  CHECK(stats.in_flight == 0);
  CHECK(stats.dead_letters == 1);
  f.Advance(absl::Minutes(1));
  CHECK(f.sink->Take().empty());

  absl::StatusOr<DeadLetterPage> page = f.broker->ListDeadLetters("jobs", 0, "");
  REQUIRE(page.ok());
  REQUIRE(page->dead_letters.size() == 1);
  CHECK(page->dead_letters[0].message->id == "m1");
  CHECK(page->dead_letters[0].attempts == 4);
  CHECK(page->dead_letters[0].last_error == "handler failed");
  CHECK(page->next_page_token.empty());
}

TEST_CASE("a nack with a delay redelivers after exactly that delay") {
  Fixture f;
  const SubscriptionId sub = f.Subscribe("jobs", 1);
  f.Publish("jobs", "m1");
  std::vector<Delivery> got = f.sink->Take();
  REQUIRE(got.size() == 1);
  REQUIRE(f.broker->Nack(sub, got[0].delivery_id, absl::Milliseconds(750)).ok());
  f.Advance(absl::Milliseconds(749));
  CHECK(f.sink->Take().empty());
  f.Advance(absl::Milliseconds(1));
  got = f.sink->Take();
  REQUIRE(got.size() == 1);
  CHECK(got[0].attempt == 2);
  CHECK(f.broker->Nack(sub, got[0].delivery_id, -absl::Milliseconds(1)).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(f.broker->Nack(sub, got[0].delivery_id, absl::Hours(2)).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(f.StatsOf("jobs").in_flight == 1);  // a refused nack changes nothing
}

TEST_CASE("in progress moves the ack deadline a full ack deadline from now") {
  Fixture f;
  const SubscriptionId sub = f.Subscribe("jobs", 1);
  f.Publish("jobs", "m1");
  std::vector<Delivery> got = f.sink->Take();
  REQUIRE(got.size() == 1);
  f.Advance(absl::Milliseconds(900));
  REQUIRE(f.broker->InProgress(sub, got[0].delivery_id).ok());
  f.Advance(absl::Milliseconds(999));  // 1.899 s after delivery: still held
  CHECK(f.StatsOf("jobs").in_flight == 1);
  f.Advance(absl::Milliseconds(1));
  CHECK(f.StatsOf("jobs").in_flight == 0);
  CHECK(f.broker->InProgress(sub, got[0].delivery_id).code() == absl::StatusCode::kNotFound);
}

TEST_CASE("a subscriber that goes away has its in-flight deliveries redelivered to another") {
  Fixture f;
  auto other = std::make_shared<RecordingSink>();
  const SubscriptionId gone = f.Subscribe("jobs", 5);
  f.Publish("jobs", "m1");
  f.Publish("jobs", "m2");
  REQUIRE(f.sink->Take().size() == 2);
  REQUIRE(f.broker->Subscribe("jobs", "other", 5, absl::ZeroDuration(), other).ok());
  CHECK(other->Take().empty());
  f.broker->Unsubscribe(gone);
  f.broker->Unsubscribe(gone);  // idempotent
  CHECK(f.StatsOf("jobs").in_flight == 0);
  CHECK(f.StatsOf("jobs").depth == 2);
  f.Advance(absl::Milliseconds(200));
  std::vector<Delivery> got = other->Take();
  REQUIRE(got.size() == 2);
  CHECK(got[0].attempt == 2);
  CHECK(got[1].attempt == 2);
  CHECK(f.sink->Take().empty());
}

TEST_CASE("deliveries go round robin over the subscribers with room") {
  Fixture f;
  auto second = std::make_shared<RecordingSink>();
  f.Subscribe("jobs", 10);
  REQUIRE(f.broker->Subscribe("jobs", "second", 1, absl::ZeroDuration(), second).ok());
  for (int i = 0; i < 4; ++i) f.Publish("jobs", "m" + std::to_string(i));
  CHECK(second->Take().size() == 1);  // its window is 1
  CHECK(f.sink->Take().size() == 3);
}

TEST_CASE("a retried publish is stored once within the dedupe window, and again after it") {
  Fixture f;
  absl::StatusOr<PublishResult> first = f.broker->Publish("jobs", {Msg("a"), Msg("b")});
  REQUIRE(first.ok());
  CHECK(first->accepted == 2);
  CHECK(first->duplicates == 0);
  absl::StatusOr<PublishResult> retry = f.broker->Publish("jobs", {Msg("a"), Msg("b"), Msg("c")});
  REQUIRE(retry.ok());
  CHECK(retry->accepted == 1);
  CHECK(retry->duplicates == 2);
  CHECK(f.StatsOf("jobs").depth == 3);

  SECTION("ids repeated inside one batch are duplicates too") {
    absl::StatusOr<PublishResult> batch = f.broker->Publish("jobs", {Msg("d"), Msg("d")});
    REQUIRE(batch.ok());
    CHECK(batch->accepted == 1);
    CHECK(batch->duplicates == 1);
  }
  SECTION("the same id on another queue is another message") {
    absl::StatusOr<PublishResult> other = f.broker->Publish("other", {Msg("a")});
    REQUIRE(other.ok());
    CHECK(other->accepted == 1);
  }
  SECTION("an acked message is still remembered within the window") {
    const SubscriptionId sub = f.Subscribe("jobs", 10);
    for (const Delivery& d : f.sink->Take()) REQUIRE(f.broker->Ack(sub, d.delivery_id).ok());
    absl::StatusOr<PublishResult> again = f.broker->Publish("jobs", {Msg("a")});
    REQUIRE(again.ok());
    CHECK(again->duplicates == 1);
  }
  SECTION("after the window the id is new again") {
    f.Advance(absl::Seconds(59));
    absl::StatusOr<PublishResult> inside = f.broker->Publish("jobs", {Msg("a")});
    REQUIRE(inside.ok());
    CHECK(inside->duplicates == 1);
    f.Advance(absl::Seconds(1));
    absl::StatusOr<PublishResult> after = f.broker->Publish("jobs", {Msg("a")});
    REQUIRE(after.ok());
    CHECK(after->accepted == 1);
    CHECK(f.StatsOf("jobs").depth == 4);
  }
}

TEST_CASE("the dedupe table is bounded: beyond its size the oldest id is forgotten") {
  BrokerOptions options = TestOptions();
  options.max_dedupe_entries = 2;
  Fixture f(options);
  f.Publish("jobs", "a");
  f.Publish("jobs", "b");
  f.Publish("jobs", "c");  // forgets "a"
  absl::StatusOr<PublishResult> b_again = f.broker->Publish("jobs", {Msg("b")});
  REQUIRE(b_again.ok());
  CHECK(b_again->duplicates == 1);
  absl::StatusOr<PublishResult> a_again = f.broker->Publish("jobs", {Msg("a")});
  REQUIRE(a_again.ok());
  CHECK(a_again->accepted == 1);
}

TEST_CASE("a full queue refuses a publish with a retry hint and stores none of the batch") {
  BrokerOptions options = TestOptions();
  options.default_limits = {.max_messages = 3, .max_bytes = 1000};
  options.queue_limits["small"] = {.max_messages = 10, .max_bytes = 10};
  Fixture f(options);
  f.Publish("jobs", "m1");
  f.Publish("jobs", "m2");
  absl::StatusOr<PublishResult> over = f.broker->Publish("jobs", {Msg("m3"), Msg("m4")});
  CHECK(over.status().code() == absl::StatusCode::kResourceExhausted);
  CHECK(RetryAfterSeconds(over.status()) == 1);
  CHECK(f.StatsOf("jobs").depth == 2);
  // Nothing of the refused batch was remembered either: it can be retried as it was.
  f.Publish("jobs", "m3");
  CHECK(f.broker->Publish("jobs", {Msg("m4")}).status().code() ==
        absl::StatusCode::kResourceExhausted);
  // In-flight messages count; only an ack makes room.
  const SubscriptionId sub = f.Subscribe("jobs", 1);
  std::vector<Delivery> got = f.sink->Take();
  REQUIRE(got.size() == 1);
  CHECK(f.broker->Publish("jobs", {Msg("m4")}).status().code() ==
        absl::StatusCode::kResourceExhausted);
  REQUIRE(f.broker->Ack(sub, got[0].delivery_id).ok());
  f.Publish("jobs", "m4");

  SECTION("bytes are bounded too") {
    f.Publish("small", "a");  // 1 + 1 bytes
    CHECK(f.broker->Publish("small", {Msg("b", "123456789")}).status().code() ==
          absl::StatusCode::kResourceExhausted);
    // A message that could never fit is bad input, not a full queue.
    CHECK(f.broker->Publish("small", {Msg("c", "1234567890")}).status().code() ==
          absl::StatusCode::kInvalidArgument);
    CHECK(f.StatsOf("small").bytes == 2);
  }
}

TEST_CASE("publish rejects bad input and changes nothing") {
  BrokerOptions options = TestOptions();
  options.max_publish_batch = 2;
  options.max_message_bytes = 8;
  Fixture f(options);
  auto code = [&](const std::string& queue, std::vector<Message> messages) {
    return f.broker->Publish(queue, std::move(messages)).status().code();
  };
  CHECK(code("", {Msg("a")}) == absl::StatusCode::kInvalidArgument);
  CHECK(code("a/b", {Msg("a")}) == absl::StatusCode::kInvalidArgument);
  CHECK(code(std::string(129, 'q'), {Msg("a")}) == absl::StatusCode::kInvalidArgument);
  CHECK(code("jobs", {}) == absl::StatusCode::kInvalidArgument);
  CHECK(code("jobs", {Msg("a"), Msg("b"), Msg("c")}) == absl::StatusCode::kInvalidArgument);
  CHECK(code("jobs", {Msg("")}) == absl::StatusCode::kInvalidArgument);
  CHECK(code("jobs", {Msg(std::string(129, 'i'))}) == absl::StatusCode::kInvalidArgument);
  CHECK(code("jobs", {Msg("a"), Msg("b", "12345678")}) == absl::StatusCode::kInvalidArgument);
  CHECK(f.broker->Stats().empty());
  CHECK(code("jobs", {Msg("a"), Msg("b", "1234567")}) == absl::StatusCode::kOk);
}

TEST_CASE("queues are created on first use, up to max_queues") {
  BrokerOptions options = TestOptions();
  options.max_queues = 2;
  Fixture f(options);
  f.Publish("q1", "a");
  f.Subscribe("q2", 1);
  CHECK(f.broker->Publish("q3", {Msg("a")}).status().code() ==
        absl::StatusCode::kResourceExhausted);
  CHECK(f.broker->Stats().size() == 2);
}

TEST_CASE("dead letters are listed in pages and replayed as fresh messages") {
  BrokerOptions options = TestOptions();
  options.max_deliver = 1;
  Fixture f(options);
  const SubscriptionId sub = f.Subscribe("jobs", 10);
  for (int i = 0; i < 3; ++i) f.Publish("jobs", "m" + std::to_string(i));
  for (const Delivery& d : f.sink->Take()) {
    REQUIRE(f.broker->Nack(sub, d.delivery_id, absl::ZeroDuration()).ok());
  }
  CHECK(f.StatsOf("jobs").dead_letters == 3);

  absl::StatusOr<DeadLetterPage> page1 = f.broker->ListDeadLetters("jobs", 2, "");
  REQUIRE(page1.ok());
  REQUIRE(page1->dead_letters.size() == 2);
  CHECK(page1->dead_letters[0].message->id == "m0");
  CHECK(page1->dead_letters[0].last_error == "nacked");
  CHECK(page1->dead_letters[0].dead_time == f.clock.Now());
  REQUIRE_FALSE(page1->next_page_token.empty());
  absl::StatusOr<DeadLetterPage> page2 =
      f.broker->ListDeadLetters("jobs", 2, page1->next_page_token);
  REQUIRE(page2.ok());
  REQUIRE(page2->dead_letters.size() == 1);
  CHECK(page2->dead_letters[0].message->id == "m2");
  CHECK(page2->next_page_token.empty());
  CHECK(f.broker->ListDeadLetters("jobs", 2, "x").status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(f.broker->ListDeadLetters("jobs", 1001, "").status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(f.broker->ListDeadLetters("unknown", 10, "")->dead_letters.empty());

  // Replay by id: only m1 comes back, as attempt 1.
  absl::StatusOr<int> replayed = f.broker->ReplayDeadLetters("jobs", {"m1", "nope"});
  REQUIRE(replayed.ok());
  CHECK(*replayed == 1);
  std::vector<Delivery> got = f.sink->Take();
  REQUIRE(got.size() == 1);
  CHECK(got[0].message->id == "m1");
  CHECK(got[0].attempt == 1);
  CHECK(f.StatsOf("jobs").dead_letters == 2);
  // Replay everything left.
  CHECK(*f.broker->ReplayDeadLetters("jobs", {}) == 2);
  CHECK(f.sink->Take().size() == 2);
  CHECK(f.StatsOf("jobs").dead_letters == 0);
}

TEST_CASE("replay respects the queue's bounds") {
  BrokerOptions options = TestOptions();
  options.max_deliver = 1;
  options.default_limits = {.max_messages = 2, .max_bytes = 1000};
  Fixture f(options);
  const SubscriptionId sub = f.Subscribe("jobs", 10);
  f.Publish("jobs", "m0");
  f.Publish("jobs", "m1");
  for (const Delivery& d : f.sink->Take()) {
    REQUIRE(f.broker->Nack(sub, d.delivery_id, absl::ZeroDuration()).ok());
  }
  f.broker->Unsubscribe(sub);
  f.Publish("jobs", "m2");
  // One slot left: one replayed, one stays dead.
  CHECK(*f.broker->ReplayDeadLetters("jobs", {}) == 1);
  CHECK(f.StatsOf("jobs").dead_letters == 1);
  CHECK(f.broker->ReplayDeadLetters("jobs", {}).status().code() ==
        absl::StatusCode::kResourceExhausted);
}

TEST_CASE("the dead-letter list is bounded: the oldest is dropped and counted") {
  BrokerOptions options = TestOptions();
  options.max_deliver = 1;
  options.max_dead_letters = 2;
  Fixture f(options);
  const SubscriptionId sub = f.Subscribe("jobs", 10);
  for (int i = 0; i < 3; ++i) f.Publish("jobs", "m" + std::to_string(i));
  for (const Delivery& d : f.sink->Take()) {
    REQUIRE(f.broker->Nack(sub, d.delivery_id, absl::ZeroDuration()).ok());
  }
  const QueueStats stats = f.StatsOf("jobs");
  CHECK(stats.dead_letters == 2);
  CHECK(stats.dead_letters_dropped == 1);
  absl::StatusOr<DeadLetterPage> page = f.broker->ListDeadLetters("jobs", 10, "");
  REQUIRE(page.ok());
  REQUIRE(page->dead_letters.size() == 2);
  CHECK(page->dead_letters[0].message->id == "m1");
}

TEST_CASE("queue lag is the age of the oldest message not in flight") {
  Fixture f;
  CHECK(f.broker->QueueLag() == absl::ZeroDuration());
  f.Publish("a", "m1");
  f.clock.Advance(absl::Seconds(2));
  f.Publish("b", "m2");
  f.clock.Advance(absl::Seconds(1));
  CHECK(f.broker->QueueLag() == absl::Seconds(3));
  CHECK(f.StatsOf("a").oldest_undelivered_age == absl::Seconds(3));
  CHECK(f.StatsOf("b").oldest_undelivered_age == absl::Seconds(1));
  // Delivered: no longer waiting.
  const SubscriptionId sub = f.Subscribe("a", 1);
  CHECK(f.broker->QueueLag() == absl::Seconds(1));
  std::vector<Delivery> got = f.sink->Take();
  REQUIRE(got.size() == 1);
  REQUIRE(f.broker->Ack(sub, got[0].delivery_id).ok());
  CHECK(f.StatsOf("a").oldest_undelivered_age == absl::ZeroDuration());
}

TEST_CASE("options out of range are refused") {
  FakeClock clock;
  auto refused = [&clock](const std::function<void(BrokerOptions&)>& change) {
    BrokerOptions options;
    change(options);
    return Broker::Create(clock, options).status().code() == absl::StatusCode::kInvalidArgument;
  };
  CHECK(refused([](BrokerOptions& o) { o.default_limits.max_messages = 0; }));
  CHECK(refused([](BrokerOptions& o) { o.backoff_multiplier = 0.5; }));
  CHECK(refused([](BrokerOptions& o) { o.jitter = 1.0; }));
  CHECK(refused([](BrokerOptions& o) { o.max_backoff = absl::Milliseconds(1); }));
  CHECK(refused([](BrokerOptions& o) { o.max_deliver = 0; }));
  CHECK(refused([](BrokerOptions& o) { o.queue_limits["bad name"] = {}; }));
  CHECK(Broker::Create(clock, BrokerOptions{}).ok());
}

}  // namespace
}  // namespace spine::bus

namespace spine::bus {
namespace {

Message Reply(const std::string& id, const std::string& delivery_id) {
  Message message = Msg(id);
  message.reply_to_delivery_id = delivery_id;
  return message;
}

}  // namespace

TEST_CASE("the broker stamps who published a message, whatever the message says") {
  Fixture f;
  Message message = Msg("m1");
  message.publisher = "llm";
  message.in_reply_to = "someone-elses-job";
  REQUIRE(f.broker->Publish("q", {message}, "plugins").ok());
  f.Subscribe("q", 1);
  const std::vector<Delivery> got = f.sink->Take();
  REQUIRE(got.size() == 1);
  CHECK(got[0].message->publisher == "plugins");
  CHECK(got[0].message->in_reply_to.empty());
}

TEST_CASE("a reply binds to the delivery its publisher holds, and to no other") {
  Fixture f;
  auto llm_sink = std::make_shared<RecordingSink>();
  const absl::StatusOr<SubscriptionId> llm =
      f.broker->Subscribe("jobs", "llm-1", 1, absl::ZeroDuration(), llm_sink, "llm");
  REQUIRE(llm.ok());
  REQUIRE(f.broker->Publish("jobs", {Msg("run1/0/1")}, "tasks").ok());
  const std::vector<Delivery> jobs = llm_sink->Take();
  REQUIRE(jobs.size() == 1);
  const std::string delivery = jobs[0].delivery_id;

  // Another service cannot answer it, nor can anyone answer a delivery that does not exist.
  const absl::StatusOr<PublishResult> stolen =
      f.broker->Publish("results", {Reply("run1/0/1/result", delivery)}, "plugins");
  CHECK(stolen.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(f.broker->Publish("results", {Reply("x", "no-such-delivery")}, "llm").status().code() ==
        absl::StatusCode::kFailedPrecondition);
  CHECK(f.broker->Publish("results", {Reply("x", delivery)}, "").status().code() ==
        absl::StatusCode::kFailedPrecondition);
  // All or nothing: one bad reply refuses the batch.
  CHECK(f.broker->Publish("results", {Msg("fine"), Reply("y", "nope")}, "llm").status().code() ==
        absl::StatusCode::kFailedPrecondition);

  // The holder can; the consumer learns which message it answers.
  const absl::StatusOr<PublishResult> answered =
      f.broker->Publish("results", {Reply("run1/0/1/result", delivery)}, "llm");
  REQUIRE(answered.ok());
  CHECK(answered->accepted == 1);
  f.Subscribe("results", 10);
  const std::vector<Delivery> results = f.sink->Take();
  REQUIRE(results.size() == 1);
  CHECK(results[0].message->publisher == "llm");
  CHECK(results[0].message->in_reply_to == "run1/0/1");
  CHECK(results[0].message->reply_to_delivery_id.empty());

  // Once acked, the delivery is no longer held: a late reply is refused.
  REQUIRE(f.broker->Ack(*llm, delivery).ok());
  CHECK(f.broker->Publish("results", {Reply("z", delivery)}, "llm").status().code() ==
        absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("a reply's id cannot shadow another publisher's reply to a different message") {
  Fixture f;
  auto llm_sink = std::make_shared<RecordingSink>();
  auto plugin_sink = std::make_shared<RecordingSink>();
  REQUIRE(f.broker->Subscribe("llm-jobs", "l", 1, absl::ZeroDuration(), llm_sink, "llm").ok());
  REQUIRE(f.broker->Subscribe("plugin-jobs", "p", 1, absl::ZeroDuration(), plugin_sink, "plugins")
              .ok());
  REQUIRE(f.broker->Publish("llm-jobs", {Msg("victim")}, "tasks").ok());
  REQUIRE(f.broker->Publish("plugin-jobs", {Msg("attacker")}, "tasks").ok());
  const std::string victim = llm_sink->Take().at(0).delivery_id;
  const std::string attacker = plugin_sink->Take().at(0).delivery_id;

  // The attacker answers its own job under the victim's result id first...
  REQUIRE(f.broker->Publish("results", {Reply("victim/result", attacker)}, "plugins")->accepted ==
          1);
  // ...and the victim's real result is still stored, not taken for a duplicate.
  const absl::StatusOr<PublishResult> real =
      f.broker->Publish("results", {Reply("victim/result", victim)}, "llm");
  REQUIRE(real.ok());
  CHECK(real->accepted == 1);
  // The same reply again (a retried publish, or a redelivered job answered from a cache) is one,
  // and so is any other reply to the same message: one held delivery cannot flood the queue.
  CHECK(f.broker->Publish("results", {Reply("victim/result", victim)}, "llm")->duplicates == 1);
  CHECK(
      f.broker
          ->Publish("results", {Reply("flood-1", attacker), Reply("flood-2", attacker)}, "plugins")
          ->duplicates == 2);
}

}  // namespace spine::bus
