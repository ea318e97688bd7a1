#include "libs/bus/local_consumer.h"

#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "libs/core/log.h"

namespace spine::bus {

// Shared with the broker, which may still call it after Stop (for a delivery it had already
// taken out): it then drops it, and Unsubscribe puts what the subscription held back.
class LocalConsumer::Sink final : public DeliverySink {
 public:
  Sink(Broker& broker, Handler handler) : broker_(broker), handler_(std::move(handler)) {}

  // The subscription is known: handles what was delivered before Subscribe returned its id.
  void Bind(SubscriptionId subscription) {
    std::vector<Delivery> early;
    {
      absl::MutexLock lock(&mu_);
      subscription_ = subscription;
      early.swap(early_);
      ++active_;
    }
    for (Delivery& delivery : early) Handle(subscription, delivery);
    absl::MutexLock lock(&mu_);
    --active_;
  }

  void Deliver(Delivery delivery) override {
    SubscriptionId subscription = 0;
    {
      absl::MutexLock lock(&mu_);
      if (stopped_) return;
      if (subscription_ == 0) {
        early_.push_back(std::move(delivery));  // at most the subscription's credits
        return;
      }
      subscription = subscription_;
      ++active_;
    }
    Handle(subscription, delivery);
    absl::MutexLock lock(&mu_);
    --active_;
  }

  // Drops what comes from now on and waits for the handler calls under way.
  void Stop() {
    absl::MutexLock lock(&mu_);
    stopped_ = true;
    auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return active_ == 0; };
    mu_.Await(absl::Condition(&idle));
  }

 private:
  void Handle(SubscriptionId subscription, const Delivery& delivery) {
    const absl::Status handled = handler_(*delivery.message);
    const absl::Status settled =
        handled.ok() ? broker_.Ack(subscription, delivery.delivery_id)
                     : broker_.Nack(subscription, delivery.delivery_id, absl::ZeroDuration(),
                                    std::string(handled.message()));
    if (!settled.ok()) {
      // Its ack deadline passed meanwhile: the broker delivers it again.
      log::Debug("delivery not settled", {{"error", std::string(settled.message())}});
    }
  }

  Broker& broker_;
  const Handler handler_;
  absl::Mutex mu_;
  SubscriptionId subscription_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<Delivery> early_ ABSL_GUARDED_BY(mu_);
  int active_ ABSL_GUARDED_BY(mu_) = 0;  // handler calls under way
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
};

absl::StatusOr<std::unique_ptr<LocalConsumer>> LocalConsumer::Start(
    Broker& broker, const LocalConsumerOptions& options, Handler handler) {
  auto sink = std::make_shared<Sink>(broker, std::move(handler));
  std::unique_ptr<LocalConsumer> consumer(new LocalConsumer(broker, sink));
  absl::StatusOr<SubscriptionId> subscription =
      broker.Subscribe(options.queue, options.consumer_name, options.credits, absl::ZeroDuration(),
                       sink, options.owner);
  if (!subscription.ok()) return subscription.status();
  consumer->subscription_ = *subscription;
  sink->Bind(*subscription);
  return consumer;
}

LocalConsumer::~LocalConsumer() { Stop(); }

void LocalConsumer::Stop() {
  sink_->Stop();
  if (subscription_ != 0) broker_.Unsubscribe(subscription_);
  subscription_ = 0;
}

}  // namespace spine::bus
