// How the HTTP backends (ollama, openai) turn an error reply into the status Backend promises.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace spine::llm {

// Every status here carries an ErrorInfo reason naming the backend's part, so a client (and the
// audit log) can tell a model this server lacks (MODEL_NOT_FOUND, from the LlmGateway) from one
// the backend lacks (BACKEND_MODEL_NOT_FOUND).

// The status for a non-2xx reply from `backend` ("ollama", "openai"), carrying `message`:
// 404 → NOT_FOUND, BACKEND_MODEL_NOT_FOUND (the backend has no such model); 429, 502, 503, 504,
// 408 → UNAVAILABLE, BACKEND_UNAVAILABLE (busy or unreachable: try later); 401, 403 →
// UNAVAILABLE, BACKEND_AUTH_FAILED (the server's own API key was refused: the caller can do
// nothing about it, and must not be told that *its* credentials were wrong); 400, 422 →
// INVALID_ARGUMENT, BACKEND_REJECTED_REQUEST; anything else → INTERNAL, BACKEND_ERROR.
absl::Status StatusForHttpError(absl::string_view backend, int http_status,
                                absl::string_view message);

// The human-readable error in a backend's error body: `{"error": "..."}` (Ollama),
// `{"error": {"message": "..."}}` (OpenAI), `{"message": "..."}` or `{"detail": "..."}` (other
// OpenAI-compatible servers), else the start of the body itself; at most 300 bytes.
std::string ErrorMessageFromBody(absl::string_view body);

// The status for an `{"error": ...}` object inside an otherwise successful stream: NOT_FOUND
// when the message says a model was not found, else UNAVAILABLE (the backend failed while
// generating, e.g. its runner stopped or ran out of memory; another try may work).
absl::Status StatusForStreamError(absl::string_view backend, absl::string_view message);

// The status for a transfer that failed below HTTP (`transport`, from HttpClient: refused,
// reset, timed out). Its detail names the backend's address, which is logged here and not passed
// on: the caller hears that `backend` is unreachable (UNAVAILABLE, BACKEND_UNAVAILABLE) or did
// not answer in time (DEADLINE_EXCEEDED); a cancellation stays CANCELLED.
absl::Status StatusForTransportError(absl::string_view backend, const absl::Status& transport);

// A reply that does not follow the backend's wire format: INTERNAL, BACKEND_BAD_RESPONSE.
absl::Status StatusForBadResponse(absl::string_view backend, absl::string_view what);

}  // namespace spine::llm
