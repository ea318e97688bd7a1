#include "services/llm/backends/ollama_backend.h"

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/rpc/error_info.h"
#include "nlohmann/json.hpp"
#include "services/llm/backends/base_url.h"
#include "services/llm/backends/http_error_status.h"
#include "services/llm/backends/ndjson_parser.h"
#include "services/llm/backends/streaming_chat.h"

namespace spine::llm {
namespace {

using Json = nlohmann::json;

// One streamed /api/chat reply: NDJSON lines in, deltas and the final result out.
class OllamaStream final : public StreamingChatHandler {
 public:
  OllamaStream(Backend::OnDelta on_delta, Backend::OnDone done)
      : StreamingChatHandler("ollama", std::move(on_delta), std::move(done)) {}

 private:
  absl::Status ConsumeBody(absl::string_view chunk) override {
    absl::StatusOr<std::vector<std::string>> lines = parser_.Feed(chunk);
    if (!lines.ok()) return ParserError(lines.status());
    for (const std::string& line : *lines) {
      if (absl::Status status = HandleLine(line); !status.ok()) return status;
    }
    return absl::OkStatus();
  }

  absl::Status EndOfBody() override {
    absl::StatusOr<std::string> last = parser_.Finish();
    if (!last.ok()) return ParserError(last.status());
    if (!last->empty()) {
      if (absl::Status line_status = HandleLine(*last); !line_status.ok()) return line_status;
      if (finished()) return absl::OkStatus();
    }
    return rpc::WithErrorInfo(
        absl::UnavailableError(absl::StrCat("ollama: the reply ended after ", lines_,
                                            " lines without its final \"done\": true line")),
        "BACKEND_UNAVAILABLE");
  }

  absl::Status HandleLine(const std::string& line) {
    ++lines_;
    if (finished()) return absl::OkStatus();  // nothing is expected after the final line
    const Json json = Json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!json.is_object()) {
      return StatusForBadResponse("ollama",
                                  absl::StrCat("reply line ", lines_, " is not a JSON object"));
    }
    if (const auto error = json.find("error"); error != json.end() && !error->is_null()) {
      return StatusForStreamError(
          "ollama", error->is_string()
                        ? error->get_ref<const std::string&>()
                        : error->dump(-1, ' ', false, Json::error_handler_t::replace));
    }
    if (const auto message = json.find("message"); message != json.end()) {
      if (!message->is_object()) {
        return StatusForBadResponse(
            "ollama", absl::StrCat("reply line ", lines_, ": \"message\" is not an object"));
      }
      if (const auto content = message->find("content"); content != message->end()) {
        if (!content->is_string()) {
          return StatusForBadResponse(
              "ollama",
              absl::StrCat("reply line ", lines_, ": \"message.content\" is not a string"));
        }
        AppendText(content->get_ref<const std::string&>());
      }
    }
    const auto done = json.find("done");
    if (done == json.end()) return absl::OkStatus();
    if (!done->is_boolean()) {
      return StatusForBadResponse(
          "ollama", absl::StrCat("reply line ", lines_, ": \"done\" is not a boolean"));
    }
    if (!done->get<bool>()) return absl::OkStatus();
    MarkFinished();
    const auto reason = json.find("done_reason");
    result().finish_reason =
        reason != json.end() && reason->is_string() && *reason == "length" ? "length" : "stop";
    if (const auto count = json.find("prompt_eval_count"); count != json.end()) {
      result().prompt_tokens = ClampedTokenCount(*count);
    }
    if (const auto count = json.find("eval_count"); count != json.end()) {
      result().completion_tokens = ClampedTokenCount(*count);
    }
    result().backend_load = Nanoseconds(json, "load_duration");
    result().backend_total = Nanoseconds(json, "total_duration");
    return absl::OkStatus();
  }

  // Ollama reports its durations in nanoseconds; anything else is read as not reported.
  static absl::Duration Nanoseconds(const Json& json, const char* key) {
    const auto value = json.find(key);
    if (value == json.end() || !value->is_number_unsigned()) return absl::ZeroDuration();
    return absl::Nanoseconds(value->get<uint64_t>());
  }

  NdjsonParser parser_;
  int lines_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<OllamaBackend>> OllamaBackend::Create(HttpClient& http,
                                                                     absl::string_view base_url) {
  absl::StatusOr<std::string> url = NormalizeBaseUrl(base_url);
  if (!url.ok()) return url.status();
  return std::unique_ptr<OllamaBackend>(new OllamaBackend(http, absl::StrCat(*url, "/api/chat")));
}

std::string OllamaBackend::RequestBody(const GenerateParams& params) {
  Json options = Json::object();
  if (params.max_tokens > 0) options["num_predict"] = params.max_tokens;
  if (params.temperature.has_value()) options["temperature"] = *params.temperature;
  const Json body = {{"model", params.backend_model},
                     {"messages", ChatMessagesJson(params.messages)},
                     {"stream", true},
                     {"options", std::move(options)}};
  return DumpRequestBody(body);
}

std::unique_ptr<Generation> OllamaBackend::Start(const GenerateParams& params, OnDelta on_delta,
                                                 OnDone done) {
  return StartHttpGeneration(
      http_,
      JsonPostRequest(chat_url_, "application/x-ndjson", RequestBody(params), params.deadline),
      std::make_unique<OllamaStream>(std::move(on_delta), std::move(done)));
}

}  // namespace spine::llm
