// Conversion between absl::Status (inside a service) and grpc::Status (on the wire).
#pragma once

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace spine::rpc {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace spine::rpc
