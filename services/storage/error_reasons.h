// The ErrorInfo reasons the data access classes (access/) give their answers (API.md, "Errors").
#pragma once

#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "libs/rpc/error_info.h"
#include "services/storage/page_token.h"

namespace spine::storage {

// Gives the adapter's NOT_FOUND the reason API clients switch on; its message stays as the
// adapter wrote it.
template <typename T>
T WithNotFoundReason(T result, absl::string_view reason) {
  return rpc::WithErrorInfoIf(std::move(result), absl::StatusCode::kNotFound, reason);
}

// Decode's refusals, with the reason clients see in the API error. Tagged here rather than in
// the codec so that it (and its fuzz target) stays free of RPC types.
inline absl::StatusOr<PageCursor> DecodePageToken(const PageTokenCodec& codec,
                                                  absl::string_view token,
                                                  absl::string_view binding) {
  return rpc::WithErrorInfoIf(codec.Decode(token, binding), absl::StatusCode::kInvalidArgument,
                              "INVALID_PAGE_TOKEN");
}

}  // namespace spine::storage
