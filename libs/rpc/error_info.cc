#include "libs/rpc/error_info.h"

#include "absl/base/macros.h"
#include "absl/strings/cord.h"
#include "absl/types/optional.h"

namespace spine::rpc {
namespace {

bool IsUpperSnake(absl::string_view reason) {
  if (reason.empty() || reason.front() < 'A' || reason.front() > 'Z') return false;
  for (const char c : reason) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

}  // namespace

absl::Status WithErrorInfo(absl::Status status, absl::string_view reason,
                           const std::map<std::string, std::string>& metadata) {
  // A reason is part of the API that clients switch on; a malformed one is a programming error
  // here, not something to report to the caller.
  ABSL_ASSERT(IsUpperSnake(reason));
  google::rpc::ErrorInfo info;
  info.set_reason(std::string(reason));
  info.set_domain(kErrorInfoDomain);
  info.mutable_metadata()->insert(metadata.begin(), metadata.end());
  return AttachErrorInfo(std::move(status), info);
}

absl::Status AttachErrorInfo(absl::Status status, const google::rpc::ErrorInfo& info) {
  // SetPayload ignores an OK status, which is what the contract says.
  status.SetPayload(kErrorInfoTypeUrl, absl::Cord(info.SerializeAsString()));
  return status;
}

std::optional<google::rpc::ErrorInfo> GetErrorInfo(const absl::Status& status) {
  // This Abseil build has its own optional, not std::optional.
  const absl::optional<absl::Cord> payload = status.GetPayload(kErrorInfoTypeUrl);
  if (!payload) return std::nullopt;
  google::rpc::ErrorInfo info;
  if (!info.ParseFromString(std::string(*payload))) return std::nullopt;
  return info;
}

absl::Status WithErrorInfoIf(absl::Status status, absl::StatusCode code, absl::string_view reason) {
  if (status.code() != code || status.GetPayload(kErrorInfoTypeUrl).has_value()) return status;
  return WithErrorInfo(std::move(status), reason);
}

}  // namespace spine::rpc
