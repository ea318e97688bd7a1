#include "services/llm/backends/openai_backend.h"

#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "libs/rpc/error_info.h"
#include "nlohmann/json.hpp"
#include "services/llm/backends/base_url.h"
#include "services/llm/backends/http_error_status.h"
#include "services/llm/backends/sse_parser.h"
#include "services/llm/backends/streaming_chat.h"

namespace spine::llm {
namespace {

using Json = nlohmann::json;

// One streamed chat completion: events in, deltas and the final result out.
class OpenAiStream final : public StreamingChatHandler {
 public:
  OpenAiStream(Backend::OnDelta on_delta, Backend::OnDone done)
      : StreamingChatHandler("openai", std::move(on_delta), std::move(done)) {}

 private:
  absl::Status ConsumeBody(absl::string_view chunk) override {
    absl::StatusOr<std::vector<SseEvent>> events = parser_.Feed(chunk);
    if (!events.ok()) return ParserError(events.status());
    for (const SseEvent& event : *events) {
      if (absl::Status status = HandleEvent(event); !status.ok()) return status;
    }
    return absl::OkStatus();
  }

  absl::Status EndOfBody() override {
    // Some servers close the stream without "[DONE]"; a finish_reason already said it ended.
    if (!result().finish_reason.empty()) return absl::OkStatus();
    return rpc::WithErrorInfo(
        absl::UnavailableError(absl::StrCat("openai: the stream ended after ", events_,
                                            " events without \"data: [DONE]\"")),
        "BACKEND_UNAVAILABLE");
  }

  absl::Status Malformed(absl::string_view what) const {
    return StatusForBadResponse("openai", absl::StrCat("event ", events_, ": ", what));
  }

  absl::Status HandleEvent(const SseEvent& event) {
    ++events_;
    if (finished()) return absl::OkStatus();
    if (event.data == "[DONE]") {
      MarkFinished();
      if (result().finish_reason.empty()) result().finish_reason = "stop";
      return absl::OkStatus();
    }
    const Json json = Json::parse(event.data, nullptr, /*allow_exceptions=*/false);
    if (!json.is_object()) return Malformed("data is not a JSON object");
    if (const auto error = json.find("error"); error != json.end() && !error->is_null()) {
      std::string message = error->dump(-1, ' ', false, Json::error_handler_t::replace);
      if (error->is_string()) {
        message = error->get<std::string>();
      } else if (const auto inner = error->find("message");
                 error->is_object() && inner != error->end() && inner->is_string()) {
        message = inner->get<std::string>();
      }
      return StatusForStreamError("openai", message);
    }
    if (const auto usage = json.find("usage"); usage != json.end() && !usage->is_null()) {
      if (!usage->is_object()) return Malformed("\"usage\" is not an object");
      if (const auto count = usage->find("prompt_tokens"); count != usage->end()) {
        result().prompt_tokens = ClampedTokenCount(*count);
      }
      if (const auto count = usage->find("completion_tokens"); count != usage->end()) {
        result().completion_tokens = ClampedTokenCount(*count);
      }
    }
    const auto choices = json.find("choices");
    if (choices == json.end()) return absl::OkStatus();
    if (!choices->is_array()) return Malformed("\"choices\" is not an array");
    if (choices->empty()) return absl::OkStatus();  // the usage-only last chunk
    const Json& choice = choices->front();
    if (!choice.is_object()) return Malformed("\"choices[0]\" is not an object");
    if (const auto delta = choice.find("delta"); delta != choice.end() && !delta->is_null()) {
      if (!delta->is_object()) return Malformed("\"choices[0].delta\" is not an object");
      const auto content = delta->find("content");
      if (content != delta->end() && !content->is_null()) {
        if (!content->is_string()) return Malformed("\"choices[0].delta.content\" is not a string");
        AppendText(content->get_ref<const std::string&>());
      }
    }
    if (const auto reason = choice.find("finish_reason");
        reason != choice.end() && reason->is_string()) {
      result().finish_reason = *reason == "length" ? "length" : "stop";
    }
    return absl::OkStatus();
  }

  SseParser parser_;
  int events_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<OpenAiBackend>> OpenAiBackend::Create(HttpClient& http,
                                                                     absl::string_view base_url,
                                                                     std::string api_key) {
  absl::StatusOr<std::string> url = NormalizeBaseUrl(base_url);
  if (!url.ok()) return url.status();
  if (api_key.find_first_of("\r\n") != std::string::npos) {
    // Said without the key itself.
    return absl::InvalidArgumentError("openai: the API key contains a line break");
  }
  std::string completions_url = absl::EndsWith(*url, "/v1")
                                    ? absl::StrCat(*url, "/chat/completions")
                                    : absl::StrCat(*url, "/v1/chat/completions");
  return std::unique_ptr<OpenAiBackend>(
      new OpenAiBackend(http, std::move(completions_url), std::move(api_key)));
}

std::string OpenAiBackend::RequestBody(const GenerateParams& params) {
  Json body = {{"model", params.backend_model},
               {"messages", ChatMessagesJson(params.messages)},
               {"stream", true},
               {"stream_options", {{"include_usage", true}}}};
  if (params.max_tokens > 0) body["max_tokens"] = params.max_tokens;
  if (params.temperature.has_value()) body["temperature"] = *params.temperature;
  return DumpRequestBody(body);
}

std::unique_ptr<Generation> OpenAiBackend::Start(const GenerateParams& params, OnDelta on_delta,
                                                 OnDone done) {
  HttpRequest request =
      JsonPostRequest(completions_url_, "text/event-stream", RequestBody(params), params.deadline);
  if (!api_key_.empty()) request.headers.emplace_back("Authorization", "Bearer " + api_key_);
  return StartHttpGeneration(http_, std::move(request),
                             std::make_unique<OpenAiStream>(std::move(on_delta), std::move(done)));
}

}  // namespace spine::llm
