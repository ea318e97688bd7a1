// GrpcServiceProber: the real ServiceProber, calling spine.v1.StatusService/GetServiceStatus over
// one gRPC channel per service with the callback API.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "services/gateway/ops/status_aggregator.h"
#include "spine/v1/common.grpc.pb.h"

namespace spine::gateway {

// Thread-safe: Probe() may be called from any thread, several calls at once; answers arrive on
// gRPC's callback threads. Calls are not wait-for-ready, so a service that is down answers
// UNAVAILABLE at once and one that hangs answers DEADLINE_EXCEEDED at the deadline.
class GrpcServiceProber final : public ServiceProber {
 public:
  // `channels`: service name → a channel to that service's gRPC address (rpc::MakeChannel).
  explicit GrpcServiceProber(const std::map<std::string, std::shared_ptr<grpc::Channel>>& channels);

  void Probe(const std::string& service, absl::Duration timeout, Callback done) override;

 private:
  struct Target {
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<spine::v1::StatusService::Stub> stub;
  };
  // Filled at construction, read-only after.
  std::map<std::string, Target> targets_;
};

}  // namespace spine::gateway
