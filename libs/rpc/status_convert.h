// Conversion between absl::Status (inside a service) and grpc::Status (on the wire). An
// ErrorInfo attached with error_info.h travels along: as a google.rpc.Status in the
// grpc::Status's error_details, which gRPC sends as the grpc-status-details-bin trailer.
#pragma once

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace spine::rpc {

// Same code and message; an attached ErrorInfo becomes error_details, a serialized
// google.rpc.Status {code, message, details: [Any(ErrorInfo)]}.
grpc::Status ToGrpcStatus(const absl::Status& status);

// Same code and message; an ErrorInfo found in error_details is attached again. Details that do
// not parse, or hold no ErrorInfo, are dropped: they come from the peer.
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace spine::rpc
