// OpenAiBackend: runs a model on an OpenAI-compatible server (vLLM, llama.cpp server, LM Studio,
// hosted APIs) through `POST {baseUrl}/v1/chat/completions` with `stream: true` — server-sent
// events of `choices[0].delta.content`, ended by `data: [DONE]`. Usage is requested
// (`stream_options.include_usage`) and reported when the server sends it.
//
// Errors, beyond those of Backend: HTTP 404 → NOT_FOUND; 429, 503, connection refused, a stream
// dropped before `[DONE]` → UNAVAILABLE; 401 and 403 → PERMISSION_DENIED (the server's own API
// key was refused; UNAUTHENTICATED would wrongly tell Spine's caller to fix its credentials);
// an unparseable event → INTERNAL; an `{"error": ...}` event → NOT_FOUND when it names a missing
// model, else UNAVAILABLE; other HTTP statuses as in http_error_status.h.
//
// The API key is sent as `Authorization: Bearer <key>` and nowhere else: not logged, not in any
// status message.
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

class OpenAiBackend final : public Backend {
 public:
  // `base_url` is the server's root, e.g. "http://127.0.0.1:8000"; one that already ends in
  // "/v1" (the OpenAI SDKs' convention) is accepted too. `api_key` is the key itself (read by
  // the config layer); empty sends no Authorization header. `http` must outlive the backend and
  // every Generation it returns.
  static absl::StatusOr<std::unique_ptr<OpenAiBackend>> Create(HttpClient& http,
                                                               absl::string_view base_url,
                                                               std::string api_key);

  std::unique_ptr<Generation> Start(const GenerateParams& params, OnDelta on_delta,
                                    OnDone done) override;

  // The request body Start sends for `params` (exposed for tests).
  static std::string RequestBody(const GenerateParams& params);

 private:
  OpenAiBackend(HttpClient& http, std::string completions_url, std::string api_key)
      : http_(http), completions_url_(std::move(completions_url)), api_key_(std::move(api_key)) {}

  HttpClient& http_;
  const std::string completions_url_;
  const std::string api_key_;
};

}  // namespace spine::llm
