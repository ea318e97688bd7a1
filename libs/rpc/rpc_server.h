// RpcServer: the gRPC server every Spine service runs.
//
// It always serves grpc.health.v1.Health, server reflection, spine.v1.StatusService and the
// FallbackService (auth, then UNIMPLEMENTED naming the RPC) beside the service's own
// implementations, with the request-id interceptor and the configured message-size limits.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/server.h"
#include "libs/rpc/caller.h"
#include "libs/rpc/fallback_service.h"
#include "libs/rpc/status_probe.h"

namespace spine::rpc {

struct RpcServerOptions {
  std::string service_name;  // "storage", "llm", ...
  std::string address;       // host:port; port 0 picks a free one
  int64_t max_message_bytes = 4 << 20;
  absl::Duration shutdown_grace = absl::Seconds(5);
};

class RpcServer {
 public:
  // Builds and starts the server. `services` and `authenticator` are borrowed and must outlive
  // it. Fails with UNAVAILABLE when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<RpcServer>> Start(
      const RpcServerOptions& options, const Authenticator& authenticator,
      const std::vector<grpc::Service*>& services, const Clock& clock,
      StatusProbeService::Extras status_extras);
  ~RpcServer();

  // The bound port (useful when the address asked for port 0).
  int port() const { return port_; }

  // Marks health NOT_SERVING, stops accepting, lets in-flight calls finish within the grace
  // period, then cancels what is left. Idempotent; thread-safe.
  void Shutdown();

 private:
  RpcServer() = default;

  RpcServerOptions options_;
  std::unique_ptr<StatusProbeService> status_probe_;
  std::unique_ptr<FallbackService> fallback_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  absl::Mutex mu_;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace spine::rpc
