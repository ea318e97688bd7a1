// StreamingChat: what the HTTP backends (ollama, openai) share in running one streamed chat
// generation — the JSON POST that starts it, and the response handler that collects the reply.
// Each backend keeps only its wire format: the request JSON, and how the body's lines or events
// become deltas, token counts and the end of the reply.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "services/llm/backends/backend.h"
#include "services/llm/backends/http_client.h"

namespace spine::llm {

// The chat messages as the JSON array both APIs take: `[{"role": ..., "content": ...}, ...]`.
nlohmann::json ChatMessagesJson(const std::vector<ChatMessage>& messages);

// `body` as request text, replacing invalid UTF-8 rather than throwing (the gateway validated
// the text already).
std::string DumpRequestBody(const nlohmann::json& body);

// A token count from a reply, clamped to [0, INT_MAX]; 0 when it is not an integer.
int ClampedTokenCount(const nlohmann::json& value);

// A POST of the JSON `body` to `url`, accepting `accept`, that must end by `deadline`.
HttpRequest JsonPostRequest(std::string url, absl::string_view accept, std::string body,
                            absl::Time deadline);

// Starts `request` on `http` with `handler` reading the reply; the handle cancels the transfer.
std::unique_ptr<Generation> StartHttpGeneration(HttpClient& http, HttpRequest request,
                                                std::unique_ptr<HttpResponseHandler> handler);

// One streamed chat reply: feeds a 2xx body to the backend's format, accumulates the text and
// reports each delta, keeps (the start of) an error body, and ends the generation exactly once:
// with the result once the format has seen the end of the reply (whatever then happens to the
// connection), else with the format's error, the transfer's error or the HTTP status's, each
// prefixed with the backend's name.
class StreamingChatHandler : public HttpResponseHandler {
 public:
  // `backend` ("ollama", "openai") prefixes every status message.
  StreamingChatHandler(absl::string_view backend, Backend::OnDelta on_delta, Backend::OnDone done)
      : backend_(backend), on_delta_(std::move(on_delta)), done_(std::move(done)) {}

  absl::Status OnData(int http_status, absl::string_view chunk) final;
  void OnComplete(absl::Status status, int http_status) final;

 protected:
  // The format's part: the next raw piece of a 2xx body, cut wherever the network cut it.
  virtual absl::Status ConsumeBody(absl::string_view chunk) = 0;
  // The whole 2xx body arrived without the end of the reply (finished() is false): OK accepts
  // the result as it stands, an error ends the generation with it.
  virtual absl::Status EndOfBody() = 0;

  // Adds `text` to the reply and reports it as a delta (nothing when it is empty).
  void AppendText(const std::string& text);
  // The end of the reply was seen; later body data is ignored.
  void MarkFinished() { finished_ = true; }
  bool finished() const { return finished_; }
  GenerateResult& result() { return result_; }
  // INTERNAL "<backend>: <message of `parser_error`>", for a line or event parser's failure.
  absl::Status ParserError(const absl::Status& parser_error) const;
  absl::string_view backend() const { return backend_; }

 private:
  absl::Status Consume(int http_status, absl::string_view chunk);
  absl::StatusOr<GenerateResult> Finish(const absl::Status& status, int http_status);

  const std::string backend_;
  Backend::OnDelta on_delta_;
  Backend::OnDone done_;
  std::string error_body_;
  absl::Status stream_error_;
  GenerateResult result_;
  bool finished_ = false;
};

}  // namespace spine::llm
