// google.rpc.ErrorInfo on an absl::Status: the machine-readable reason of an error (API.md,
// "Errors"). Inside a service it rides as an absl::Status payload; status_convert.h carries it
// over gRPC (grpc-status-details-bin) and the gateway puts it into the HTTP error body.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/rpc/error_details.pb.h"

namespace spine::rpc {

// The payload key the ErrorInfo is stored under; also its google.protobuf.Any type URL.
inline constexpr char kErrorInfoTypeUrl[] = "type.googleapis.com/google.rpc.ErrorInfo";
// The domain of every ErrorInfo Spine sets.
inline constexpr char kErrorInfoDomain[] = "spine";

// `status` with an ErrorInfo {reason, domain "spine", metadata}, replacing any earlier one.
// `reason` must be UPPER_SNAKE_CASE ([A-Z][A-Z0-9_]*; asserted in debug builds). An OK status
// is returned unchanged: it carries no details.
absl::Status WithErrorInfo(absl::Status status, absl::string_view reason,
                           const std::map<std::string, std::string>& metadata = {});

// `status` with `info` attached as it is, without checks: for an ErrorInfo that came from a peer.
absl::Status AttachErrorInfo(absl::Status status, const google::rpc::ErrorInfo& info);

// The ErrorInfo attached to `status`; nullopt when there is none or its payload does not parse.
std::optional<google::rpc::ErrorInfo> GetErrorInfo(const absl::Status& status);

// For giving a lower layer's errors their reason: `status` with `reason` attached if its code is
// `code` and it has no ErrorInfo yet (a reason set deeper down is the more specific one). Every
// other status, OK included, is returned unchanged.
absl::Status WithErrorInfoIf(absl::Status status, absl::StatusCode code, absl::string_view reason);

template <typename T>
absl::StatusOr<T> WithErrorInfoIf(absl::StatusOr<T> result, absl::StatusCode code,
                                  absl::string_view reason) {
  if (result.ok()) return result;
  return WithErrorInfoIf(std::move(result).status(), code, reason);
}

}  // namespace spine::rpc
