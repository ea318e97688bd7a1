#include "services/tasks/engine/retry_policy.h"

#include <algorithm>
#include <cmath>

#include "absl/random/distributions.h"

namespace spine::tasks {

bool IsRetryable(const spine::v1::RunError& error) {
  if (error.reason() == "PLUGIN_BAD_OUTPUT" || error.reason() == "TEMPLATE_PATH_MISSING" ||
      error.reason() == "TEMPLATE_OUTPUT_TOO_LARGE") {
    return false;
  }
  static constexpr const char* kFinal[] = {
      "INVALID_ARGUMENT",  "FAILED_PRECONDITION", "OUT_OF_RANGE",  "NOT_FOUND",
      "PERMISSION_DENIED", "UNAUTHENTICATED",     "UNIMPLEMENTED", "ALREADY_EXISTS"};
  return std::none_of(std::begin(kFinal), std::end(kFinal),
                      [&](const char* code) { return error.code() == code; });
}

absl::Duration RetryBackoff(const spine::v1::RetryPolicy& policy, int next_attempt,
                            absl::BitGenRef random) {
  const double exponent = std::max(0, next_attempt - 2);
  const double millis = std::min<double>(
      policy.initial_backoff_ms() * std::pow(policy.backoff_coefficient(), exponent),
      policy.max_backoff_ms());
  const double jittered = millis / 2 + absl::Uniform(random, 0.0, millis / 2);
  return absl::Milliseconds(jittered);
}

}  // namespace spine::tasks
