// OllamaBackend: runs a model on an Ollama server through its streaming chat API
// (`POST {baseUrl}/api/chat`, newline-delimited JSON replies).
//
// Errors, beyond those of Backend: HTTP 404 (no such model) → NOT_FOUND; 429 and 503 (busy),
// connection refused, a stream dropped before its final `"done": true` line → UNAVAILABLE;
// an unparseable line → INTERNAL; an `{"error": ...}` line in the stream → NOT_FOUND when it
// names a missing model, else UNAVAILABLE; other HTTP statuses as in http_error_status.h.
// Token counts are Ollama's `prompt_eval_count` and `eval_count`.
//
// Thread-safe; the callbacks run on the HttpClient's thread.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "services/llm/backends/backend.h"
#include "services/llm/backends/http_client.h"

namespace spine::llm {

class OllamaBackend final : public Backend {
 public:
  // `base_url` is the server's root, e.g. "http://127.0.0.1:11434" (http or https, no query).
  // `http` must outlive the backend and every Generation it returns.
  static absl::StatusOr<std::unique_ptr<OllamaBackend>> Create(HttpClient& http,
                                                               absl::string_view base_url);

  std::unique_ptr<Generation> Start(const GenerateParams& params, OnDelta on_delta,
                                    OnDone done) override;

  // The request body Start sends for `params` (exposed for tests).
  static std::string RequestBody(const GenerateParams& params);

 private:
  OllamaBackend(HttpClient& http, std::string chat_url)
      : http_(http), chat_url_(std::move(chat_url)) {}

  HttpClient& http_;
  const std::string chat_url_;
};

}  // namespace spine::llm
