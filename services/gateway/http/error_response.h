// The one JSON error shape of the HTTP edge (AIP-193), and the gRPC-code → HTTP-status table of
// API.md.
#pragma once

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "services/gateway/http/http_message.h"

namespace spine::gateway {

// API.md's table (grpc-gateway's mapping); CANCELLED is 499.
int HttpStatusFor(absl::StatusCode code);
// The same, with API.md's exceptions: a plugin failure's reason (PLUGIN_ERROR, PLUGIN_CRASHED,
// PLUGIN_BAD_OUTPUT, SANDBOX_VIOLATION) with UNKNOWN, INTERNAL or PERMISSION_DENIED is 502;
// INVALID_ARGUMENT with IDEMPOTENCY_KEY_REUSED is 422.
int HttpStatusFor(absl::StatusCode code, absl::string_view reason);

// {"error":{"code":<http>,"status":"<CODE_NAME>","message":...,"details":[ErrorInfo]}} with
// the HTTP status from the table. `reason` becomes the ErrorInfo reason.
HttpResponse MakeErrorResponse(absl::StatusCode code, absl::string_view message,
                               absl::string_view reason);

// The same shape for HTTP-level errors that have their own status (405, 413, 415, 431, ...).
HttpResponse MakeErrorResponse(int http_status, absl::StatusCode code, absl::string_view message,
                               absl::string_view reason);

// The same shape for an error from a service (libs/rpc/error_info.h): the reason and metadata of
// its ErrorInfo when it has one with a reason, else `default_reason` and no metadata; the HTTP
// status from HttpStatusFor(code, reason). The domain
// is always "spine". An OK `status` is a caller bug and answers 500 UNKNOWN, never a 200.
HttpResponse MakeErrorResponse(const absl::Status& status, absl::string_view default_reason);

}  // namespace spine::gateway
