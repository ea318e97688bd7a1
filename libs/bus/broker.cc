#include "libs/bus/broker.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <random>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace spine::bus {
namespace {

constexpr size_t kMaxQueueName = 128;
constexpr size_t kMaxMessageId = 128;
constexpr int kDefaultDeadLetterPage = 100;
constexpr int kMaxDeadLetterPage = 1000;

int64_t MessageBytes(const Message& message) {
  auto bytes = static_cast<int64_t>(message.id.size() + message.payload.size());
  for (const auto& [key, value] : message.headers) {
    bytes += static_cast<int64_t>(key.size() + value.size());
  }
  return bytes;
}

// The dedupe window's key. A message answers at most once: a reply is keyed by the message it
// answers, whatever its id, so one held delivery cannot flood the queue with replies, and a
// reply's id can never shadow another publisher's reply to a different message. ('\x1f' cannot
// start a message id a publisher chose, so the two kinds of key never meet.)
std::string DedupeKey(const Message& message) {
  if (message.in_reply_to.empty()) return message.id;
  return absl::StrCat("\x1f", message.in_reply_to);
}

absl::Status QueueFull(const std::string& queue, const std::string& why) {
  absl::Status status = absl::ResourceExhaustedError(
      absl::StrCat("queue '", queue, "' is full (", why, "); retry later"));
  // Consumers drain a queue in well under a second when they keep up; a second is the shortest
  // hint the Retry-After convention can express.
  status.SetPayload(kRetryAfterPayload, absl::Cord("1"));
  return status;
}

std::string RandomPrefix() {
  std::random_device device;
  return absl::StrFormat("%08x", device());
}

}  // namespace

std::optional<int64_t> RetryAfterSeconds(const absl::Status& status) {
  const auto payload = status.GetPayload(kRetryAfterPayload);
  int64_t seconds = 0;
  if (!payload || !absl::SimpleAtoi(std::string(*payload), &seconds)) return std::nullopt;
  return seconds;
}

absl::Status ValidateQueueName(const std::string& queue) {
  if (queue.empty() || queue.size() > kMaxQueueName) {
    return absl::InvalidArgumentError(
        absl::StrCat("queue: ", queue.size(), " characters, must be 1..", kMaxQueueName));
  }
  for (const char c : queue) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '_' || c == '-')) {
      return absl::InvalidArgumentError(absl::StrCat(
          "queue: '", queue.substr(0, 64), "' may hold only letters, digits, '.', '_' and '-'"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Broker>> Broker::Create(const Clock& clock, BrokerOptions options,
                                                       RandomSource random) {
  std::vector<std::string> problems;
  auto check_limits = [&](const std::string& name, const QueueLimits& limits) {
    if (limits.max_messages < 1 || limits.max_bytes < 1) {
      problems.push_back(absl::StrCat(name, ": maxMessages and maxBytes must be positive"));
    }
  };
  check_limits("default queue limits", options.default_limits);
  for (const auto& [name, limits] : options.queue_limits) {
    if (absl::Status valid = ValidateQueueName(name); !valid.ok()) {
      problems.emplace_back(valid.message());
    }
    check_limits(absl::StrCat("queue ", name), limits);
  }
  if (options.max_queues < 1) problems.emplace_back("maxQueues must be positive");
  if (options.dedupe_window < absl::ZeroDuration()) {
    problems.emplace_back("dedupe window must not be negative");
  }
  if (options.max_dedupe_entries < 1) problems.emplace_back("maxDedupeEntries must be positive");
  if (options.initial_backoff <= absl::ZeroDuration() ||
      options.max_backoff < options.initial_backoff) {
    problems.emplace_back("backoff: need 0 < initial <= max");
  }
  if (!(options.backoff_multiplier >= 1.0 && options.backoff_multiplier <= 100.0)) {
    problems.emplace_back("backoff multiplier must be 1..100");
  }
  if (!(options.jitter >= 0.0 && options.jitter < 1.0)) {
    problems.emplace_back("jitter must be in [0, 1)");
  }
  if (options.max_deliver < 1) problems.emplace_back("maxDeliver must be positive");
  if (options.max_dead_letters < 1) problems.emplace_back("maxDeadLetters must be positive");
  if (options.default_ack_deadline <= absl::ZeroDuration() ||
      options.max_ack_deadline < options.default_ack_deadline) {
    problems.emplace_back("ack deadline: need 0 < default <= max");
  }
  if (options.max_credits < 1) problems.emplace_back("maxCredits must be positive");
  if (options.max_publish_batch < 1) problems.emplace_back("maxPublishBatch must be positive");
  if (options.max_message_bytes < 1) problems.emplace_back("maxMessageBytes must be positive");
  if (!problems.empty()) {
    std::string joined;
    for (const std::string& problem : problems) {
      absl::StrAppend(&joined, joined.empty() ? "" : "; ", problem);
    }
    return absl::InvalidArgumentError(absl::StrCat("bus options: ", joined));
  }
  if (!random) {
    random = [engine = std::mt19937_64(std::random_device()()),
              dist = std::uniform_real_distribution<double>(0.0, 1.0)]() mutable {
      return dist(engine);
    };
  }
  return std::unique_ptr<Broker>(new Broker(clock, std::move(options), std::move(random)));
}

Broker::Broker(const Clock& clock, BrokerOptions options, RandomSource random)
    : clock_(clock),
      options_(std::move(options)),
      random_(std::move(random)),
      delivery_prefix_(RandomPrefix()) {}

void Broker::SetTimerListener(std::function<void(absl::Time)> listener) {
  absl::MutexLock lock(&listener_mu_);
  timer_listener_ = std::move(listener);
}

absl::StatusOr<Broker::Queue*> Broker::GetOrCreateQueue(const std::string& name) {
  auto it = queues_.find(name);
  if (it != queues_.end()) return &it->second;
  if (absl::Status valid = ValidateQueueName(name); !valid.ok()) return valid;
  if (queues_.size() >= static_cast<size_t>(options_.max_queues)) {
    return absl::ResourceExhaustedError(absl::StrCat("the bus already has ", queues_.size(),
                                                     " queues, at most ", options_.max_queues,
                                                     "; '", name, "' is not created"));
  }
  Queue& queue = queues_[name];
  auto limits = options_.queue_limits.find(name);
  queue.limits = limits == options_.queue_limits.end() ? options_.default_limits : limits->second;
  return &queue;
}

absl::StatusOr<PublishResult> Broker::Publish(const std::string& queue_name,
                                              std::vector<Message> messages,
                                              const std::string& publisher) {
  if (absl::Status valid = ValidateQueueName(queue_name); !valid.ok()) return valid;
  if (messages.empty()) return absl::InvalidArgumentError("messages: must not be empty");
  if (messages.size() > static_cast<size_t>(options_.max_publish_batch)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "messages: ", messages.size(), " in one publish, at most ", options_.max_publish_batch));
  }
  for (size_t i = 0; i < messages.size(); ++i) {
    const Message& message = messages[i];
    if (message.id.empty() || message.id.size() > kMaxMessageId) {
      return absl::InvalidArgumentError(absl::StrCat("messages[", i,
                                                     "].messageId: ", message.id.size(),
                                                     " characters, must be 1..", kMaxMessageId));
    }
    if (MessageBytes(message) > options_.max_message_bytes) {
      return absl::InvalidArgumentError(absl::StrCat("messages[", i, "]: ", MessageBytes(message),
                                                     " bytes, at most ",
                                                     options_.max_message_bytes));
    }
  }

  PublishResult result;
  const absl::Status changed =
      Change([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::StatusOr<std::string> {
        absl::StatusOr<Queue*> found = GetOrCreateQueue(queue_name);
        if (!found.ok()) return found.status();
        Queue& queue = **found;
        const absl::Time now = clock_.MonotonicNow();
        ForgetExpiredIds(queue, now);

        // Who publishes is the broker's to say; a reply is bound to the delivery it answers, which
        // the publisher must hold now (all or nothing, like the rest of the batch).
        for (size_t i = 0; i < messages.size(); ++i) {
          absl::StatusOr<std::string> answered = ResolveReply(messages[i], publisher);
          if (!answered.ok()) {
            return absl::FailedPreconditionError(
                absl::StrCat("messages[", i, "].replyToDeliveryId: ", answered.status().message()));
          }
          messages[i].publisher = publisher;
          messages[i].in_reply_to = *std::move(answered);
          messages[i].reply_to_delivery_id.clear();
        }

        // Which messages are new: not seen within the window, and not earlier in this batch.
        std::vector<size_t> fresh;
        std::set<std::string> batch_ids;
        int64_t fresh_bytes = 0;
        for (size_t i = 0; i < messages.size(); ++i) {
          const std::string key = DedupeKey(messages[i]);
          if (queue.seen_ids.contains(key) || !batch_ids.insert(key).second) {
            ++result.duplicates;
            continue;
          }
          fresh.push_back(i);
          fresh_bytes += MessageBytes(messages[i]);
        }
        if (fresh_bytes > queue.limits.max_bytes) {
          return absl::InvalidArgumentError(
              absl::StrCat("messages: ", fresh_bytes, " bytes, more than queue '", queue_name,
                           "' can ever hold (", queue.limits.max_bytes, ")"));
        }
        const auto stored = static_cast<int64_t>(queue.messages.size());
        const auto adding = static_cast<int64_t>(fresh.size());
        if (stored + adding > queue.limits.max_messages) {
          return QueueFull(queue_name, absl::StrCat(stored, " of ", queue.limits.max_messages,
                                                    " messages stored, ", adding, " more asked"));
        }
        if (queue.bytes + fresh_bytes > queue.limits.max_bytes) {
          return QueueFull(queue_name, absl::StrCat(queue.bytes, " of ", queue.limits.max_bytes,
                                                    " bytes stored, ", fresh_bytes, " more asked"));
        }

        const absl::Time expiry = now + options_.dedupe_window;
        const absl::Time wall_now = clock_.Now();
        for (const size_t i : fresh) {
          Message& message = messages[i];
          const int64_t bytes = MessageBytes(message);
          if (options_.dedupe_window > absl::ZeroDuration()) {
            // Bounded: beyond the limit the oldest remembered id is forgotten first.
            while (queue.seen_ids.size() >= static_cast<size_t>(options_.max_dedupe_entries)) {
              auto oldest = queue.seen_by_expiry.begin();
              queue.seen_ids.erase(oldest->second);
              queue.seen_by_expiry.erase(oldest);
            }
            const std::string key = DedupeKey(message);
            queue.seen_ids.emplace(key, expiry);
            queue.seen_by_expiry.emplace(expiry, key);
            NoteTimer(expiry);
          }
          message.publish_time = wall_now;
          Enqueue(queue, std::make_shared<const Message>(std::move(message)), bytes);
          ++result.accepted;
        }
        return queue_name;
      });
  if (!changed.ok()) return changed;
  return result;
}

absl::StatusOr<std::string> Broker::ResolveReply(const Message& message,
                                                 const std::string& publisher) const {
  if (message.reply_to_delivery_id.empty()) return std::string();
  const std::string shown = message.reply_to_delivery_id.substr(0, 64);
  auto flight = in_flight_.find(message.reply_to_delivery_id);
  if (flight == in_flight_.end()) {
    return absl::FailedPreconditionError(absl::StrCat("'", shown, "' is not in flight"));
  }
  auto holder = subscriptions_.find(flight->second.subscription);
  if (publisher.empty() || holder == subscriptions_.end() || holder->second.owner != publisher) {
    return absl::FailedPreconditionError(
        absl::StrCat("'", shown, "' is not held by publisher '", publisher.substr(0, 64), "'"));
  }
  return queues_.at(flight->second.queue).messages.at(flight->second.seq).message->id;
}

void Broker::Enqueue(Queue& queue, std::shared_ptr<const Message> message, int64_t bytes) {
  const uint64_t seq = next_seq_++;
  Stored& stored = queue.messages[seq];
  stored.message = std::move(message);
  stored.bytes = bytes;
  stored.enqueued = clock_.MonotonicNow();
  queue.bytes += bytes;
  queue.ready.insert(seq);
  queue.waiting.insert(seq);
}

void Broker::RemoveMessage(Queue& queue, uint64_t seq) {
  auto it = queue.messages.find(seq);
  if (it == queue.messages.end()) return;
  queue.bytes -= it->second.bytes;
  queue.ready.erase(seq);
  queue.waiting.erase(seq);
  queue.messages.erase(it);
}

void Broker::Dispatch(const std::string& queue_name, Queue& queue, Outbox& outbox) {
  if (queue.subscriptions.empty()) return;
  const absl::Time now = clock_.MonotonicNow();
  const absl::Time wall_now = clock_.Now();
  while (!queue.ready.empty()) {
    // Round robin: the next subscription with room in its window.
    Subscription* chosen = nullptr;
    SubscriptionId chosen_id = 0;
    const size_t count = queue.subscriptions.size();
    for (size_t tried = 0; tried < count; ++tried) {
      const size_t index = (queue.next_subscription + tried) % count;
      Subscription& candidate = subscriptions_.at(queue.subscriptions[index]);
      if (static_cast<int>(candidate.in_flight.size()) < candidate.window) {
        chosen = &candidate;
        chosen_id = queue.subscriptions[index];
        queue.next_subscription = (index + 1) % count;
        break;
      }
    }
    if (chosen == nullptr) return;

    const uint64_t seq = *queue.ready.begin();
    queue.ready.erase(queue.ready.begin());
    queue.waiting.erase(seq);
    Stored& stored = queue.messages.at(seq);
    ++stored.attempts;
    stored.delivery_id = absl::StrCat(delivery_prefix_, "-", next_delivery_++);
    const absl::Time deadline = now + chosen->ack_deadline;
    in_flight_[stored.delivery_id] =
        InFlight{.queue = queue_name, .seq = seq, .subscription = chosen_id, .deadline = deadline};
    ack_deadlines_.emplace(deadline, stored.delivery_id);
    chosen->in_flight.insert(stored.delivery_id);
    ++queue.in_flight;
    NoteTimer(deadline);
    outbox.emplace_back(chosen->sink, Delivery{.delivery_id = stored.delivery_id,
                                               .attempt = stored.attempts,
                                               .message = stored.message,
                                               .ack_deadline = wall_now + chosen->ack_deadline});
  }
}

void Broker::NoteTimer(absl::Time when) { ticker_due_ = std::min(ticker_due_, when); }

absl::Status Broker::Change(absl::FunctionRef<absl::StatusOr<std::string>()> change) {
  Outbox outbox;
  std::optional<absl::Time> wake;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time before = ticker_due_;
    absl::StatusOr<std::string> queue_name = change();
    if (!queue_name.ok()) return queue_name.status();
    if (!queue_name->empty()) Dispatch(*queue_name, queues_.at(*queue_name), outbox);
    if (ticker_due_ < before) wake = ticker_due_;
  }
  Flush(outbox, wake);
  return absl::OkStatus();
}

void Broker::Flush(Outbox& outbox, std::optional<absl::Time> wake) {
  if (wake) {
    absl::MutexLock lock(&listener_mu_);
    if (timer_listener_) timer_listener_(*wake);
  }
  for (auto& [sink, delivery] : outbox) sink->Deliver(std::move(delivery));
}

absl::StatusOr<SubscriptionId> Broker::Subscribe(const std::string& queue_name,
                                                 const std::string& consumer, int credits,
                                                 absl::Duration ack_deadline,
                                                 std::shared_ptr<DeliverySink> sink,
                                                 const std::string& owner) {
  if (absl::Status valid = ValidateQueueName(queue_name); !valid.ok()) return valid;
  if (credits < 1 || credits > options_.max_credits) {
    return absl::InvalidArgumentError(
        absl::StrCat("credits: ", credits, ", must be 1..", options_.max_credits));
  }
  if (ack_deadline < absl::ZeroDuration() || ack_deadline > options_.max_ack_deadline) {
    return absl::InvalidArgumentError(
        absl::StrCat("ackDeadlineMs: ", absl::ToInt64Milliseconds(ack_deadline), ", must be 0..",
                     absl::ToInt64Milliseconds(options_.max_ack_deadline)));
  }
  if (ack_deadline == absl::ZeroDuration()) ack_deadline = options_.default_ack_deadline;
  SubscriptionId id = 0;
  const absl::Status changed =
      Change([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::StatusOr<std::string> {
        absl::StatusOr<Queue*> found = GetOrCreateQueue(queue_name);
        if (!found.ok()) return found.status();
        id = next_subscription_++;
        subscriptions_[id] = Subscription{.queue = queue_name,
                                          .consumer = consumer,
                                          .owner = owner,
                                          .window = credits,
                                          .ack_deadline = ack_deadline,
                                          .sink = std::move(sink),
                                          .in_flight = {}};
        (*found)->subscriptions.push_back(id);
        return queue_name;
      });
  if (!changed.ok()) return changed;
  return id;
}

absl::Status Broker::Grant(SubscriptionId subscription, int credits) {
  return Change([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::StatusOr<std::string> {
    auto it = subscriptions_.find(subscription);
    if (it == subscriptions_.end()) return absl::NotFoundError("subscription not found");
    Subscription& sub = it->second;
    if (credits < 1 || sub.window + static_cast<int64_t>(credits) > options_.max_credits) {
      return absl::InvalidArgumentError(absl::StrCat("credit: ", credits, " more on ", sub.window,
                                                     ", the total must be 1..",
                                                     options_.max_credits));
    }
    sub.window += credits;
    return sub.queue;
  });
}

absl::StatusOr<Broker::InFlight*> Broker::FindDelivery(SubscriptionId subscription,
                                                       const std::string& delivery_id) {
  auto it = in_flight_.find(delivery_id);
  if (it == in_flight_.end() || it->second.subscription != subscription) {
    return absl::NotFoundError(
        absl::StrCat("delivery '", delivery_id.substr(0, 64),
                     "' is not in flight on this subscription (acked, expired or redelivered)"));
  }
  return &it->second;
}

uint64_t Broker::EndFlight(const std::string& delivery_id) {
  auto it = in_flight_.find(delivery_id);
  const InFlight flight = it->second;
  in_flight_.erase(it);
  ack_deadlines_.erase({flight.deadline, delivery_id});
  auto sub = subscriptions_.find(flight.subscription);
  if (sub != subscriptions_.end()) sub->second.in_flight.erase(delivery_id);
  Queue& queue = queues_.at(flight.queue);
  --queue.in_flight;
  queue.messages.at(flight.seq).delivery_id.clear();
  return flight.seq;
}

absl::Status Broker::Ack(SubscriptionId subscription, const std::string& delivery_id) {
  return Change([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::StatusOr<std::string> {
    absl::StatusOr<InFlight*> flight = FindDelivery(subscription, delivery_id);
    if (!flight.ok()) return flight.status();
    std::string queue_name = (*flight)->queue;
    RemoveMessage(queues_.at(queue_name), EndFlight(delivery_id));
    return queue_name;
  });
}

absl::Status Broker::Nack(SubscriptionId subscription, const std::string& delivery_id,
                          absl::Duration delay, const std::string& reason) {
  if (delay < absl::ZeroDuration() || delay > options_.max_nack_delay) {
    return absl::InvalidArgumentError(
        absl::StrCat("delayMs: ", absl::ToInt64Milliseconds(delay), ", must be 0..",
                     absl::ToInt64Milliseconds(options_.max_nack_delay)));
  }
  return Change([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::StatusOr<std::string> {
    absl::StatusOr<InFlight*> flight = FindDelivery(subscription, delivery_id);
    if (!flight.ok()) return flight.status();
    std::string queue_name = (*flight)->queue;
    Retry(queue_name, queues_.at(queue_name), EndFlight(delivery_id),
          delay > absl::ZeroDuration() ? std::optional<absl::Duration>(delay) : std::nullopt,
          reason);
    return queue_name;
  });
}

absl::Status Broker::InProgress(SubscriptionId subscription, const std::string& delivery_id) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<InFlight*> flight = FindDelivery(subscription, delivery_id);
  if (!flight.ok()) return flight.status();
  const absl::Duration extension = subscriptions_.at(subscription).ack_deadline;
  ack_deadlines_.erase({(*flight)->deadline, delivery_id});
  (*flight)->deadline = clock_.MonotonicNow() + extension;
  ack_deadlines_.emplace((*flight)->deadline, delivery_id);
  // Later than before: the ticker, woken early at worst, just rearms.
  return absl::OkStatus();
}

void Broker::Unsubscribe(SubscriptionId subscription) {
  // Never fails: an unknown subscription names no queue.
  Change([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::StatusOr<std::string> {
    auto it = subscriptions_.find(subscription);
    if (it == subscriptions_.end()) return std::string();
    std::string queue_name = it->second.queue;
    const std::set<std::string> held = it->second.in_flight;
    Queue& queue = queues_.at(queue_name);
    for (const std::string& delivery_id : held) {
      Retry(queue_name, queue, EndFlight(delivery_id), std::nullopt, "consumer gone");
    }
    auto& subs = queue.subscriptions;
    subs.erase(std::remove(subs.begin(), subs.end(), subscription), subs.end());
    if (queue.next_subscription >= subs.size()) queue.next_subscription = 0;
    subscriptions_.erase(subscription);
    return queue_name;
  }).IgnoreError();
}

void Broker::Retry(const std::string& queue_name, Queue& queue, uint64_t seq,
                   std::optional<absl::Duration> delay, const std::string& reason) {
  Stored& stored = queue.messages.at(seq);
  stored.last_error = reason;
  if (stored.attempts >= options_.max_deliver) {
    DeadLetter dead{.seq = queue.next_dead_seq++,
                    .queue = queue_name,
                    .message = stored.message,
                    .attempts = stored.attempts,
                    .last_error = reason,
                    .dead_time = clock_.Now()};
    queue.dead_letters.emplace(dead.seq, std::move(dead));
    while (queue.dead_letters.size() > static_cast<size_t>(options_.max_dead_letters)) {
      queue.dead_letters.erase(queue.dead_letters.begin());
      ++queue.dead_letters_dropped;
    }
    RemoveMessage(queue, seq);
    return;
  }
  const absl::Time due = clock_.MonotonicNow() + (delay ? *delay : BackoffLocked(stored.attempts));
  queue.retrying.emplace(due, seq);
  queue.waiting.insert(seq);
  NoteTimer(due);
}

absl::Duration Broker::Backoff(int attempt) {
  absl::MutexLock lock(&mu_);
  return BackoffLocked(attempt);
}

absl::Duration Broker::BackoffLocked(int attempt) {
  const double exponent = std::max(0, attempt - 1);
  const double base = absl::ToDoubleSeconds(options_.initial_backoff) *
                      std::pow(options_.backoff_multiplier, exponent);
  const double capped = std::min(base, absl::ToDoubleSeconds(options_.max_backoff));
  const double factor = 1.0 + options_.jitter * (2.0 * random_() - 1.0);
  return std::min(absl::Seconds(capped * factor), options_.max_backoff);
}

void Broker::ForgetExpiredIds(Queue& queue, absl::Time now) {
  while (!queue.seen_by_expiry.empty() && queue.seen_by_expiry.begin()->first <= now) {
    queue.seen_ids.erase(queue.seen_by_expiry.begin()->second);
    queue.seen_by_expiry.erase(queue.seen_by_expiry.begin());
  }
}

absl::Time Broker::Tick() {
  Outbox outbox;
  absl::Time next = absl::InfiniteFuture();
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = clock_.MonotonicNow();
    while (!ack_deadlines_.empty() && ack_deadlines_.begin()->first <= now) {
      const std::string delivery_id = ack_deadlines_.begin()->second;
      const std::string queue_name = in_flight_.at(delivery_id).queue;
      Retry(queue_name, queues_.at(queue_name), EndFlight(delivery_id), std::nullopt,
            "ack deadline expired");
    }
    if (!ack_deadlines_.empty()) next = ack_deadlines_.begin()->first;
    for (auto& [name, queue] : queues_) {
      while (!queue.retrying.empty() && queue.retrying.begin()->first <= now) {
        queue.ready.insert(queue.retrying.begin()->second);
        queue.retrying.erase(queue.retrying.begin());
      }
      ForgetExpiredIds(queue, now);
      Dispatch(name, queue, outbox);
      if (!queue.retrying.empty()) next = std::min(next, queue.retrying.begin()->first);
      if (!queue.seen_by_expiry.empty()) next = std::min(next, queue.seen_by_expiry.begin()->first);
    }
    // Dispatch may have added ack deadlines.
    if (!ack_deadlines_.empty()) next = std::min(next, ack_deadlines_.begin()->first);
    ticker_due_ = next;
  }
  // A sink calling back (an ack, say) may move ticker_due_ earlier; the listener hears of that.
  Flush(outbox, std::nullopt);
  return next;
}

std::vector<QueueStats> Broker::Stats() const {
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_.MonotonicNow();
  std::vector<QueueStats> stats;
  stats.reserve(queues_.size());
  for (const auto& [name, queue] : queues_) {
    QueueStats& entry = stats.emplace_back();
    entry.queue = name;
    entry.depth = static_cast<int64_t>(queue.waiting.size());
    entry.in_flight = queue.in_flight;
    entry.dead_letters = static_cast<int64_t>(queue.dead_letters.size());
    entry.dead_letters_dropped = queue.dead_letters_dropped;
    entry.bytes = queue.bytes;
    entry.oldest_undelivered_age = absl::ZeroDuration();
    if (!queue.waiting.empty()) {
      entry.oldest_undelivered_age = now - queue.messages.at(*queue.waiting.begin()).enqueued;
    }
  }
  return stats;
}

absl::Duration Broker::QueueLag() const {
  absl::Duration lag = absl::ZeroDuration();
  for (const QueueStats& stats : Stats()) lag = std::max(lag, stats.oldest_undelivered_age);
  return lag;
}

absl::StatusOr<DeadLetterPage> Broker::ListDeadLetters(const std::string& queue_name, int page_size,
                                                       const std::string& page_token) const {
  if (absl::Status valid = ValidateQueueName(queue_name); !valid.ok()) return valid;
  if (page_size == 0) page_size = kDefaultDeadLetterPage;
  if (page_size < 1 || page_size > kMaxDeadLetterPage) {
    return absl::InvalidArgumentError(
        absl::StrCat("pageSize: ", page_size, ", must be 1..", kMaxDeadLetterPage));
  }
  uint64_t after = 0;
  if (!page_token.empty() && (!absl::SimpleAtoi(page_token, &after) || after == 0)) {
    return absl::InvalidArgumentError("pageToken: not one this listing returned");
  }
  DeadLetterPage page;
  absl::MutexLock lock(&mu_);
  auto queue = queues_.find(queue_name);
  if (queue == queues_.end()) return page;
  for (auto it = queue->second.dead_letters.upper_bound(after);
       it != queue->second.dead_letters.end(); ++it) {
    if (page.dead_letters.size() == static_cast<size_t>(page_size)) {
      page.next_page_token = absl::StrCat(page.dead_letters.back().seq);
      break;
    }
    page.dead_letters.push_back(it->second);
  }
  return page;
}

absl::StatusOr<int> Broker::ReplayDeadLetters(const std::string& queue_name,
                                              const std::vector<std::string>& message_ids) {
  if (absl::Status valid = ValidateQueueName(queue_name); !valid.ok()) return valid;
  const std::set<std::string> wanted(message_ids.begin(), message_ids.end());
  int replayed = 0;
  bool some_left = false;
  const absl::Status changed =
      Change([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::StatusOr<std::string> {
        auto found = queues_.find(queue_name);
        if (found == queues_.end()) return std::string();
        Queue& queue = found->second;
        for (auto it = queue.dead_letters.begin(); it != queue.dead_letters.end();) {
          const DeadLetter& dead = it->second;
          if (!wanted.empty() && !wanted.contains(dead.message->id)) {
            ++it;
            continue;
          }
          const int64_t bytes = MessageBytes(*dead.message);
          if (static_cast<int64_t>(queue.messages.size()) >= queue.limits.max_messages ||
              queue.bytes + bytes > queue.limits.max_bytes) {
            some_left = true;
            break;
          }
          Enqueue(queue, dead.message, bytes);
          ++replayed;
          it = queue.dead_letters.erase(it);
        }
        return queue_name;
      });
  if (!changed.ok()) return changed;
  if (replayed == 0 && some_left) {
    return QueueFull(queue_name, "no room for dead letters to replay");
  }
  return replayed;
}

}  // namespace spine::bus
