// Which step failures are worth another attempt, and how long to wait before it.
#pragma once

#include "absl/random/bit_gen_ref.h"
#include "absl/time/time.h"
#include "spine/v1/tasks.pb.h"

namespace spine::tasks {

// False for what cannot succeed on retry: the request is wrong (INVALID_ARGUMENT,
// FAILED_PRECONDITION, OUT_OF_RANGE, a missing template path), what it names is not there
// (NOT_FOUND), it is not allowed (PERMISSION_DENIED, UNAUTHENTICATED), it is not supported
// (UNIMPLEMENTED), or a plugin answered with output that is not valid (PLUGIN_BAD_OUTPUT).
// True for the rest: timeouts, unavailability, crashes, a plugin that threw.
bool IsRetryable(const spine::v1::RunError& error);

// The pause before attempt `next_attempt` (2 for the first retry): initialBackoffMs ×
// backoffCoefficient^(next_attempt − 2), capped at maxBackoffMs, with "equal jitter" (half fixed,
// half uniformly random) so that retries of many runs do not arrive together.
absl::Duration RetryBackoff(const spine::v1::RetryPolicy& policy, int next_attempt,
                            absl::BitGenRef random);

}  // namespace spine::tasks
