// Broker: the event bus's in-memory core — named bounded queues, publish with messageId dedupe,
// credit-limited subscriptions, ack / nack / inProgress, redelivery with exponential backoff and
// jitter, dead letters and their replay, and the figures of the status probe.
//
// It holds no gRPC and no threads. Time comes from the injected Clock (MonotonicNow for timers,
// Now for the wall-clock timestamps it hands out); timers fire only in Tick(), which the service
// calls from one thread (BrokerTicker) and tests call after FakeClock::Advance. Every other
// method may be called from any thread: one mutex guards the state.
//
// Deliveries are pushed to a subscriber's DeliverySink. The broker calls sinks after releasing its
// lock, so a sink may call back into the broker; a sink must not block. A sink can be called for a
// subscription that was removed meanwhile (the delivery was already returned to its queue by
// Unsubscribe): it should then drop it.
//
// Delivery semantics (issue 8): at-least-once. A message leaves its queue only when acked. A
// delivery that is nacked, not acked within its ack deadline, or held by a subscriber that
// unsubscribes is retried after a backoff, up to max_deliver deliveries, then dead-lettered.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/core/clock.h"

namespace spine::bus {

// A message as published. Immutable once stored (deliveries share it).
struct Message {
  std::string id;  // publisher-chosen messageId
  std::string payload;
  std::map<std::string, std::string> headers;
  absl::Time publish_time;  // wall clock, set by the broker when stored
  std::string publisher;    // set by the broker: the service that published it
  // In: the delivery this message answers (must be held by the publisher). Cleared when stored.
  std::string reply_to_delivery_id;
  // Set by the broker: the id of the message whose delivery this answers; empty if none.
  std::string in_reply_to;
};

struct Delivery {
  std::string delivery_id;
  int attempt = 0;  // 1 for the first delivery
  std::shared_ptr<const Message> message;
  absl::Time ack_deadline;  // wall clock
};

// Where a subscription's deliveries go (the Subscribe stream in the service, a list in tests).
class DeliverySink {
 public:
  virtual ~DeliverySink() = default;
  virtual void Deliver(Delivery delivery) = 0;
};

struct QueueLimits {
  int64_t max_messages = 10000;  // stored messages: waiting + in flight
  int64_t max_bytes = 64 << 20;  // their payload + id + header bytes
};

struct BrokerOptions {
  QueueLimits default_limits;
  std::map<std::string, QueueLimits> queue_limits;  // per-queue overrides
  int max_queues = 256;                             // queues are created on first use
  absl::Duration dedupe_window = absl::Minutes(10);
  int64_t max_dedupe_entries = 100000;  // per queue; the oldest is forgotten beyond it
  absl::Duration initial_backoff = absl::Milliseconds(200);
  double backoff_multiplier = 2.0;
  absl::Duration max_backoff = absl::Seconds(60);
  // Each backoff is scaled by a factor drawn from [1 - jitter, 1 + jitter] (then capped).
  double jitter = 0.2;
  int max_deliver = 5;               // deliveries of one message before it is dead-lettered
  int64_t max_dead_letters = 10000;  // per queue; the oldest is dropped (and counted) beyond it
  absl::Duration default_ack_deadline = absl::Seconds(30);
  absl::Duration max_ack_deadline = absl::Minutes(10);
  absl::Duration max_nack_delay = absl::Hours(1);
  int max_credits = 1000;        // per subscription
  int max_publish_batch = 1000;  // messages per Publish call
  int64_t max_message_bytes = 1 << 20;
};

// [0, 1) uniformly; injected so tests fix the jitter.
using RandomSource = std::function<double()>;

using SubscriptionId = uint64_t;

struct PublishResult {
  int accepted = 0;
  int duplicates = 0;
};

struct QueueStats {
  std::string queue;
  int64_t depth = 0;  // stored and not in flight (ready or waiting for a retry)
  int64_t in_flight = 0;
  int64_t dead_letters = 0;
  int64_t dead_letters_dropped = 0;  // dead letters dropped because the list was full
  int64_t bytes = 0;
  absl::Duration oldest_undelivered_age;  // of the oldest message not in flight; 0 when none
};

struct DeadLetter {
  uint64_t seq = 0;  // position in the queue's dead-letter list (page tokens)
  std::string queue;
  std::shared_ptr<const Message> message;
  int attempts = 0;
  std::string last_error;
  absl::Time dead_time;  // wall clock
};

struct DeadLetterPage {
  std::vector<DeadLetter> dead_letters;
  std::string next_page_token;  // empty on the last page
};

// The payload key under which a RESOURCE_EXHAUSTED from Publish carries its retry hint (seconds,
// as decimal text); the service turns it into ErrorInfo metadata `retryAfterSeconds`.
inline constexpr char kRetryAfterPayload[] = "spine.bus/retryAfterSeconds";
std::optional<int64_t> RetryAfterSeconds(const absl::Status& status);

// Queue names: 1..128 of [A-Za-z0-9._-].
absl::Status ValidateQueueName(const std::string& queue);

class Broker {
 public:
  // INVALID_ARGUMENT for options out of range (non-positive sizes, multiplier < 1, jitter outside
  // [0, 1), ...). `random` defaults to a seeded Mersenne twister.
  static absl::StatusOr<std::unique_ptr<Broker>> Create(const Clock& clock, BrokerOptions options,
                                                        RandomSource random = nullptr);

  // Stores the messages not seen within the dedupe window (ids repeated inside the batch count
  // as duplicates too) and dispatches them. All or nothing: RESOURCE_EXHAUSTED (retry hint
  // attached, see RetryAfterSeconds) when the new ones do not fit the queue's limits, and then
  // nothing is stored. INVALID_ARGUMENT for a bad queue name, an empty batch, a batch over
  // max_publish_batch, an empty or over-long (128) id, or a message over max_message_bytes or
  // the queue's max_bytes. RESOURCE_EXHAUSTED when a new queue would exceed max_queues.
  // `publisher` (the caller's service, "" when unknown) is stamped on every message. A message
  // with reply_to_delivery_id answers that delivery: FAILED_PRECONDITION unless a subscription
  // owned by `publisher` holds it now; then its in_reply_to is the delivered message's id, and
  // a message is answered at most once within the dedupe window (a second reply to it, whatever
  // its id, counts as a duplicate).
  absl::StatusOr<PublishResult> Publish(const std::string& queue, std::vector<Message> messages,
                                        const std::string& publisher = "");

  // Adds a subscription to `queue` allowing `credits` unacked deliveries in flight, each with
  // `ack_deadline` (zero: default_ack_deadline). INVALID_ARGUMENT for credits outside
  // 1..max_credits, a deadline outside 0..max_ack_deadline or a bad queue name. `owner` is the
  // subscribing service: only it may publish replies to the subscription's deliveries.
  absl::StatusOr<SubscriptionId> Subscribe(const std::string& queue, const std::string& consumer,
                                           int credits, absl::Duration ack_deadline,
                                           std::shared_ptr<DeliverySink> sink,
                                           const std::string& owner = "");
  // Raises the subscription's window by `credits` (total at most max_credits).
  absl::Status Grant(SubscriptionId subscription, int credits);
  // The message is done: it leaves the queue. NOT_FOUND when the subscription does not hold the
  // delivery (already acked, expired, or another subscriber's).
  absl::Status Ack(SubscriptionId subscription, const std::string& delivery_id);
  // Retry the message after `delay` (zero: the backoff schedule), or dead-letter it when it has
  // had max_deliver deliveries. INVALID_ARGUMENT for a delay outside 0..max_nack_delay.
  absl::Status Nack(SubscriptionId subscription, const std::string& delivery_id,
                    absl::Duration delay, const std::string& reason = "nacked");
  // Moves the delivery's ack deadline to now + the subscription's ack deadline.
  absl::Status InProgress(SubscriptionId subscription, const std::string& delivery_id);
  // Removes the subscription; its in-flight deliveries are retried as if nacked. Unknown ids are
  // ignored (idempotent).
  void Unsubscribe(SubscriptionId subscription);

  // Fires due timers: expired ack deadlines (retry), retries whose backoff has passed (back to
  // ready), expired dedupe entries; then dispatches. Returns when the next timer is due
  // (monotonic clock; InfiniteFuture when none).
  absl::Time Tick();
  // Called, outside the lock, whenever a timer is scheduled earlier than the last time Tick
  // returned; the ticker waits for that time instead. Null removes it.
  void SetTimerListener(std::function<void(absl::Time)> listener);

  std::vector<QueueStats> Stats() const;
  // Age of the oldest message not in flight over all queues; zero when there is none.
  absl::Duration QueueLag() const;

  // Dead letters of `queue`, oldest first. INVALID_ARGUMENT for a page size outside 1..1000 (0
  // means 100) or a page token that is not one this method returned.
  absl::StatusOr<DeadLetterPage> ListDeadLetters(const std::string& queue, int page_size,
                                                 const std::string& page_token) const;
  // Puts dead letters of `queue` (those with `message_ids`, or all when empty) back as fresh
  // messages (attempt counting restarts), oldest first, as many as the queue's limits allow.
  // Returns how many were replayed; RESOURCE_EXHAUSTED when some were asked for and none fit.
  absl::StatusOr<int> ReplayDeadLetters(const std::string& queue,
                                        const std::vector<std::string>& message_ids);

  // The retry delay after the `attempt`-th delivery failed (attempt >= 1), jitter included.
  absl::Duration Backoff(int attempt);

 private:
  struct Stored {
    std::shared_ptr<const Message> message;
    int64_t bytes = 0;
    int attempts = 0;     // deliveries so far
    absl::Time enqueued;  // monotonic
    std::string last_error;
    std::string delivery_id;  // set while in flight
  };
  struct InFlight {
    std::string queue;
    uint64_t seq = 0;
    SubscriptionId subscription = 0;
    absl::Time deadline;  // monotonic
  };
  struct Subscription {
    std::string queue;
    std::string consumer;
    std::string owner;  // the subscribing service
    int window = 0;
    absl::Duration ack_deadline;
    std::shared_ptr<DeliverySink> sink;
    std::set<std::string> in_flight;
  };
  struct Queue {
    QueueLimits limits;
    std::map<uint64_t, Stored> messages;  // every stored message by seq (enqueue order)
    std::set<uint64_t> ready;             // deliverable now
    std::set<uint64_t> waiting;           // ready + retrying: not in flight
    std::set<std::pair<absl::Time, uint64_t>> retrying;  // (due, seq)
    int64_t bytes = 0;
    int64_t in_flight = 0;
    // Dedupe: id → expiry, with an expiry-ordered list to forget them.
    absl::flat_hash_map<std::string, absl::Time> seen_ids;
    std::set<std::pair<absl::Time, std::string>> seen_by_expiry;
    std::map<uint64_t, DeadLetter> dead_letters;
    uint64_t next_dead_seq = 1;
    int64_t dead_letters_dropped = 0;
    std::vector<SubscriptionId> subscriptions;  // in round-robin order
    size_t next_subscription = 0;
  };
  using Outbox = std::vector<std::pair<std::shared_ptr<DeliverySink>, Delivery>>;

  Broker(const Clock& clock, BrokerOptions options, RandomSource random);

  absl::StatusOr<Queue*> GetOrCreateQueue(const std::string& name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<InFlight*> FindDelivery(SubscriptionId subscription,
                                         const std::string& delivery_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes the delivery out of flight; the message stays stored.
  uint64_t EndFlight(const std::string& delivery_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A failed delivery of `seq`: schedule its retry after `delay` (nullopt: the backoff) or
  // dead-letter it.
  void Retry(const std::string& queue_name, Queue& queue, uint64_t seq,
             std::optional<absl::Duration> delay, const std::string& reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The id of the message whose delivery `message` answers ("" when it answers none), or why the
  // publisher may not answer it.
  absl::StatusOr<std::string> ResolveReply(const Message& message,
                                           const std::string& publisher) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Enqueue(Queue& queue, std::shared_ptr<const Message> message, int64_t bytes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveMessage(Queue& queue, uint64_t seq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Dispatch(const std::string& queue_name, Queue& queue, Outbox& outbox)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ForgetExpiredIds(Queue& queue, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Duration BackoffLocked(int attempt) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Notes a timer due at `when`: ticker_due_ moves earlier if it is. Callers compare ticker_due_
  // before and after and tell the listener (Flush) when it moved.
  void NoteTimer(absl::Time when) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Flush(Outbox& outbox, std::optional<absl::Time> wake);
  // The shape of every change that can make messages deliverable: runs `change` under the lock;
  // unless it fails, dispatches the queue it names ("" for none) and notes whether a timer moved
  // earlier; then, outside the lock, hands the deliveries to their sinks (which may call back)
  // and wakes the ticker (Flush). `change`'s error is returned with nothing dispatched.
  absl::Status Change(absl::FunctionRef<absl::StatusOr<std::string>()> change)
      ABSL_LOCKS_EXCLUDED(mu_);

  const Clock& clock_;
  const BrokerOptions options_;
  // Separate from mu_: the listener is called after mu_ is released.
  absl::Mutex listener_mu_;
  std::function<void(absl::Time)> timer_listener_ ABSL_GUARDED_BY(listener_mu_);

  mutable absl::Mutex mu_;
  RandomSource random_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Queue> queues_ ABSL_GUARDED_BY(mu_);
  std::map<SubscriptionId, Subscription> subscriptions_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, InFlight> in_flight_ ABSL_GUARDED_BY(mu_);
  std::set<std::pair<absl::Time, std::string>> ack_deadlines_ ABSL_GUARDED_BY(mu_);
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t next_delivery_ ABSL_GUARDED_BY(mu_) = 1;
  SubscriptionId next_subscription_ ABSL_GUARDED_BY(mu_) = 1;
  // The earliest timer the ticker knows of (what Tick last returned, or a later notification).
  absl::Time ticker_due_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  const std::string delivery_prefix_;  // random per broker: ids never repeat across restarts
};

}  // namespace spine::bus
