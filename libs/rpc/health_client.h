// HealthClient: asks a service's grpc.health.v1.Health/Check, asynchronously, with a deadline.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "grpcpp/channel.h"

namespace spine::rpc {

class HealthClient {
 public:
  explicit HealthClient(std::shared_ptr<grpc::Channel> channel) : channel_(std::move(channel)) {}

  // Calls Check for the whole server (service ""); `done(serving)` runs exactly once on a gRPC
  // thread, with false on any error, timeout, or a status other than SERVING.
  void CheckAsync(absl::Duration timeout, std::function<void(bool serving)> done) const;

 private:
  std::shared_ptr<grpc::Channel> channel_;
};

}  // namespace spine::rpc
