// How the HTTP backends (ollama, openai) turn an error reply into the status Backend promises.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace spine::llm {

// The status for a non-2xx reply from `backend` ("ollama", "openai"), carrying `message`:
// 404 → NOT_FOUND (the backend has no such model); 429, 502, 503, 504, 408 → UNAVAILABLE (busy
// or unreachable: try later); 401, 403 → PERMISSION_DENIED (the server's API key was refused —
// not UNAUTHENTICATED, which would tell Spine's caller that *its* credentials were wrong);
// 400, 422 → INVALID_ARGUMENT; anything else → INTERNAL.
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

}  // namespace spine::llm
