// The deadline of a server call as an absl::Time (gRPC deadlines are wall-clock), for the
// services that carry it into their own queues and timers.
#pragma once

#include <chrono>

#include "absl/time/time.h"
#include "grpcpp/server_context.h"

namespace spine::rpc {

// absl::InfiniteFuture() when the caller set none.
inline absl::Time DeadlineOf(const grpc::ServerContextBase& context) {
  const std::chrono::system_clock::time_point deadline = context.deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) return absl::InfiniteFuture();
  return absl::FromChrono(deadline);
}

}  // namespace spine::rpc
