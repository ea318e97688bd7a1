#include "services/llm/backends/openai_backend.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "services/llm/backends/base_url.h"
#include "services/llm/backends/http_error_status.h"
#include "services/llm/backends/http_generation.h"
#include "services/llm/backends/sse_parser.h"

namespace spine::llm {
namespace {

using Json = nlohmann::json;

constexpr size_t kMaxErrorBodyBytes = size_t{64} * 1024;

int ClampedInt(const Json& value) {
  if (value.is_number_unsigned()) {
    return static_cast<int>(
        std::min<uint64_t>(value.get<uint64_t>(), std::numeric_limits<int>::max()));
  }
  if (value.is_number_integer()) {
    return static_cast<int>(
        std::clamp<int64_t>(value.get<int64_t>(), 0, std::numeric_limits<int>::max()));
  }
  return 0;
}

// One streamed chat completion: events in, deltas and the final result out.
class OpenAiStream final : public HttpResponseHandler {
 public:
  OpenAiStream(Backend::OnDelta on_delta, Backend::OnDone done)
      : on_delta_(std::move(on_delta)), done_(std::move(done)) {}

  absl::Status OnData(int http_status, absl::string_view chunk) override {
    // Kept so that Finish reports it as it is, not as a transfer error.
    stream_error_ = Consume(http_status, chunk);
    return stream_error_;
  }

 private:
  absl::Status Consume(int http_status, absl::string_view chunk) {
    if (http_status < 200 || http_status > 299) {
      const size_t room = kMaxErrorBodyBytes - std::min(kMaxErrorBodyBytes, error_body_.size());
      error_body_.append(chunk.data(), std::min(room, chunk.size()));
      return absl::OkStatus();
    }
    absl::StatusOr<std::vector<SseEvent>> events = parser_.Feed(chunk);
    if (!events.ok()) {
      return absl::InternalError(absl::StrCat("openai: ", events.status().message()));
    }
    for (const SseEvent& event : *events) {
      if (absl::Status status = HandleEvent(event); !status.ok()) return status;
    }
    return absl::OkStatus();
  }

 public:
  void OnComplete(absl::Status status, int http_status) override {
    done_(Finish(status, http_status));
  }

 private:
  absl::StatusOr<GenerateResult> Finish(const absl::Status& status, int http_status) {
    if (finished_) return std::move(result_);
    if (!stream_error_.ok()) return stream_error_;
    if (!status.ok()) {
      return absl::Status(status.code(), absl::StrCat("openai: ", status.message()));
    }
    if (http_status < 200 || http_status > 299) {
      return StatusForHttpError("openai", http_status, ErrorMessageFromBody(error_body_));
    }
    // Some servers close the stream without "[DONE]"; a finish_reason already said it ended.
    if (!result_.finish_reason.empty()) return std::move(result_);
    return absl::UnavailableError(absl::StrCat("openai: the stream ended after ", events_,
                                               " events without \"data: [DONE]\""));
  }

  absl::Status Malformed(absl::string_view what) const {
    return absl::InternalError(absl::StrCat("openai: event ", events_, ": ", what));
  }

  absl::Status HandleEvent(const SseEvent& event) {
    ++events_;
    if (finished_) return absl::OkStatus();
    if (event.data == "[DONE]") {
      finished_ = true;
      if (result_.finish_reason.empty()) result_.finish_reason = "stop";
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
        result_.prompt_tokens = ClampedInt(*count);
      }
      if (const auto count = usage->find("completion_tokens"); count != usage->end()) {
        result_.completion_tokens = ClampedInt(*count);
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
        const std::string& text = content->get_ref<const std::string&>();
        if (!text.empty()) {
          result_.text += text;
          on_delta_(text);
        }
      }
    }
    if (const auto reason = choice.find("finish_reason");
        reason != choice.end() && reason->is_string()) {
      result_.finish_reason = *reason == "length" ? "length" : "stop";
    }
    return absl::OkStatus();
  }

  Backend::OnDelta on_delta_;
  Backend::OnDone done_;
  SseParser parser_;
  std::string error_body_;
  absl::Status stream_error_;
  GenerateResult result_;
  int events_ = 0;
  bool finished_ = false;
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
  Json messages = Json::array();
  for (const ChatMessage& message : params.messages) {
    messages.push_back({{"role", message.role}, {"content", message.content}});
  }
  Json body = {{"model", params.backend_model},
               {"messages", std::move(messages)},
               {"stream", true},
               {"stream_options", {{"include_usage", true}}}};
  if (params.max_tokens > 0) body["max_tokens"] = params.max_tokens;
  if (params.temperature.has_value()) body["temperature"] = *params.temperature;
  return body.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::unique_ptr<Generation> OpenAiBackend::Start(const GenerateParams& params, OnDelta on_delta,
                                                 OnDone done) {
  HttpRequest request;
  request.url = completions_url_;
  request.headers = {{"Content-Type", "application/json"}, {"Accept", "text/event-stream"}};
  if (!api_key_.empty()) request.headers.emplace_back("Authorization", "Bearer " + api_key_);
  request.body = RequestBody(params);
  request.deadline = params.deadline;
  const HttpClient::TransferId id = http_.Start(
      std::move(request), std::make_unique<OpenAiStream>(std::move(on_delta), std::move(done)));
  return std::make_unique<HttpGeneration>(http_, id);
}

}  // namespace spine::llm
