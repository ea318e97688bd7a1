// The StatusService every service answers for the gateway's GET /status.
#pragma once

#include <functional>
#include <string>

#include "libs/core/clock.h"
#include "spine/v1/common.grpc.pb.h"

namespace spine::rpc {

// Memory figures of this process, in MiB.
struct ProcessMemory {
  double rss_mb = 0;        // resident set size, from /proc/self/statm
  double heap_used_mb = 0;  // bytes handed out by malloc (mallinfo2 uordblks + hblkhd)
};
ProcessMemory ReadProcessMemory();

class StatusProbeService final : public spine::v1::StatusService::CallbackService {
 public:
  // Fills the service-specific fields (db_conn, queue_lag_ms, ...); called per probe, on a gRPC
  // thread, so it must be quick and thread-safe.
  using Extras = std::function<void(spine::v1::ServiceStatus*)>;

  StatusProbeService(std::string service, const Clock& clock, Extras extras);

  grpc::ServerUnaryReactor* GetServiceStatus(grpc::CallbackServerContext* context,
                                             const spine::v1::GetServiceStatusRequest* request,
                                             spine::v1::ServiceStatus* response) override;

 private:
  const std::string service_;
  const Clock& clock_;
  const absl::Time started_;
  const Extras extras_;
};

}  // namespace spine::rpc
