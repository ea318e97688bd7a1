// Checks a backend's configured base URL (models file `baseUrl`) and joins paths onto it.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace spine::llm {

// `base_url` without trailing slashes when it is an http:// or https:// URL with a host and no
// query or fragment; INVALID_ARGUMENT naming the value otherwise.
absl::StatusOr<std::string> NormalizeBaseUrl(absl::string_view base_url);

}  // namespace spine::llm
