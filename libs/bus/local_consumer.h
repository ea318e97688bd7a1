// LocalConsumer: reads a queue of the Broker in the same process (spine-tasks reading what the
// executors send it), without the gRPC Subscribe stream a Consumer in another service needs.
// Each delivery is handed to the handler on the thread the broker delivers it on, so the handler
// must be quick and must not block (hand longer work to a pool); OK acks the delivery, an error
// nacks it for redelivery with the broker's backoff (a payload that cannot be read dead-letters
// after max_deliver). Thread-safe; the broker and the handler's targets must outlive it.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "libs/bus/broker.h"

namespace spine::bus {

struct LocalConsumerOptions {
  std::string queue;
  std::string consumer_name;  // shown in the broker's figures
  std::string owner;          // the service subscribing (the broker's publisher name for it)
  int credits = 64;           // deliveries in flight at once
};

class LocalConsumer {
 public:
  using Handler = std::function<absl::Status(const Message& message)>;

  // Subscribes. The broker's errors (a bad queue name, credits out of range) as they are.
  static absl::StatusOr<std::unique_ptr<LocalConsumer>> Start(Broker& broker,
                                                              const LocalConsumerOptions& options,
                                                              Handler handler);
  LocalConsumer(const LocalConsumer&) = delete;
  LocalConsumer& operator=(const LocalConsumer&) = delete;
  ~LocalConsumer();

  // Waits for the handler calls under way, then unsubscribes: what it held goes back to the
  // queue. Idempotent.
  void Stop();

 private:
  class Sink;
  LocalConsumer(Broker& broker, std::shared_ptr<Sink> sink)
      : broker_(broker), sink_(std::move(sink)) {}

  Broker& broker_;
  const std::shared_ptr<Sink> sink_;
  SubscriptionId subscription_ = 0;
};

}  // namespace spine::bus
