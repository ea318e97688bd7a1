#include "libs/bus/broker_ticker.h"

#include <algorithm>

namespace spine::bus {
namespace {

// Upper bound on one wait, so a clock that jumps or a lost wake-up costs at most this much.
constexpr absl::Duration kMaxWait = absl::Seconds(1);

}  // namespace

BrokerTicker::BrokerTicker(Broker& broker, const Clock& clock) : broker_(broker), clock_(clock) {
  broker_.SetTimerListener([this](absl::Time when) {
    absl::MutexLock lock(&mu_);
    due_ = std::min(due_, when);
  });
  thread_ = std::thread([this] { Loop(); });
}

BrokerTicker::~BrokerTicker() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
  broker_.SetTimerListener(nullptr);
}

void BrokerTicker::Loop() {
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    const absl::Duration wait = due_ - clock_.MonotonicNow();
    if (wait > absl::ZeroDuration()) {
      // Wakes early when the listener moves due_ or the destructor sets stopping_.
      const absl::Time old_due = due_;
      auto changed = [this, old_due]()
                         ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || due_ < old_due; };
      mu_.AwaitWithTimeout(absl::Condition(&changed), std::min(wait, kMaxWait));
      continue;
    }
    due_ = absl::InfiniteFuture();
    mu_.Unlock();
    const absl::Time next = broker_.Tick();
    mu_.Lock();
    due_ = std::min(due_, next);
  }
}

}  // namespace spine::bus
