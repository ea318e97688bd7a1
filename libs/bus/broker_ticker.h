// BrokerTicker: the one thread that fires a Broker's timers (ack deadlines, retry backoffs,
// dedupe expiry) on time, by waiting until the next one is due and calling Broker::Tick.
#pragma once

#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/bus/broker.h"
#include "libs/core/clock.h"

namespace spine::bus {

class BrokerTicker {
 public:
  // Registers itself as `broker`'s timer listener and starts the thread. Both are borrowed and
  // must outlive the ticker.
  BrokerTicker(Broker& broker, const Clock& clock);
  BrokerTicker(const BrokerTicker&) = delete;
  BrokerTicker& operator=(const BrokerTicker&) = delete;
  // Stops and joins the thread.
  ~BrokerTicker();

 private:
  void Loop();

  Broker& broker_;
  const Clock& clock_;
  absl::Mutex mu_;
  absl::Time due_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();  // monotonic; tick at once
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace spine::bus
