#include "services/llm/backends/ollama_backend.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "services/llm/backends/base_url.h"
#include "services/llm/backends/http_error_status.h"
#include "services/llm/backends/http_generation.h"
#include "services/llm/backends/ndjson_parser.h"

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

// One streamed /api/chat reply: NDJSON lines in, deltas and the final result out.
class OllamaStream final : public HttpResponseHandler {
 public:
  OllamaStream(Backend::OnDelta on_delta, Backend::OnDone done)
      : on_delta_(std::move(on_delta)), done_(std::move(done)) {}

  absl::Status OnData(int http_status, absl::string_view chunk) override {
    // Kept so that Finish reports it as it is, not as a transfer error.
    stream_error_ = Consume(http_status, chunk);
    return stream_error_;
  }

 private:
  absl::Status Consume(int http_status, absl::string_view chunk) {
    if (http_status < 200 || http_status > 299) {
      // An error reply: keep (the start of) its body for the message.
      const size_t room = kMaxErrorBodyBytes - std::min(kMaxErrorBodyBytes, error_body_.size());
      error_body_.append(chunk.data(), std::min(room, chunk.size()));
      return absl::OkStatus();
    }
    absl::StatusOr<std::vector<std::string>> lines = parser_.Feed(chunk);
    if (!lines.ok()) return absl::InternalError(absl::StrCat("ollama: ", lines.status().message()));
    for (const std::string& line : *lines) {
      if (absl::Status status = HandleLine(line); !status.ok()) return status;
    }
    return absl::OkStatus();
  }

 public:
  void OnComplete(absl::Status status, int http_status) override {
    done_(Finish(status, http_status));
  }

 private:
  absl::StatusOr<GenerateResult> Finish(const absl::Status& status, int http_status) {
    // Once the final line arrived the reply is whole, whatever happens to the connection.
    if (finished_) return std::move(result_);
    if (!stream_error_.ok()) return stream_error_;
    if (!status.ok()) {
      return absl::Status(status.code(), absl::StrCat("ollama: ", status.message()));
    }
    if (http_status < 200 || http_status > 299) {
      return StatusForHttpError("ollama", http_status, ErrorMessageFromBody(error_body_));
    }
    absl::StatusOr<std::string> last = parser_.Finish();
    if (!last.ok()) return absl::InternalError(absl::StrCat("ollama: ", last.status().message()));
    if (!last->empty()) {
      if (absl::Status line_status = HandleLine(*last); !line_status.ok()) return line_status;
      if (finished_) return std::move(result_);
    }
    return absl::UnavailableError(absl::StrCat("ollama: the reply ended after ", lines_,
                                               " lines without its final \"done\": true line"));
  }

  absl::Status HandleLine(const std::string& line) {
    ++lines_;
    if (finished_) return absl::OkStatus();  // nothing is expected after the final line
    const Json json = Json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!json.is_object()) {
      return absl::InternalError(
          absl::StrCat("ollama: reply line ", lines_, " is not a JSON object"));
    }
    if (const auto error = json.find("error"); error != json.end() && !error->is_null()) {
      return StatusForStreamError(
          "ollama", error->is_string()
                        ? error->get_ref<const std::string&>()
                        : error->dump(-1, ' ', false, Json::error_handler_t::replace));
    }
    if (const auto message = json.find("message"); message != json.end()) {
      if (!message->is_object()) {
        return absl::InternalError(
            absl::StrCat("ollama: reply line ", lines_, ": \"message\" is not an object"));
      }
      if (const auto content = message->find("content"); content != message->end()) {
        if (!content->is_string()) {
          return absl::InternalError(
              absl::StrCat("ollama: reply line ", lines_, ": \"message.content\" is not a string"));
        }
        const std::string& text = content->get_ref<const std::string&>();
        if (!text.empty()) {
          result_.text += text;
          on_delta_(text);
        }
      }
    }
    const auto done = json.find("done");
    if (done == json.end()) return absl::OkStatus();
    if (!done->is_boolean()) {
      return absl::InternalError(
          absl::StrCat("ollama: reply line ", lines_, ": \"done\" is not a boolean"));
    }
    if (!done->get<bool>()) return absl::OkStatus();
    finished_ = true;
    const auto reason = json.find("done_reason");
    result_.finish_reason =
        reason != json.end() && reason->is_string() && *reason == "length" ? "length" : "stop";
    if (const auto count = json.find("prompt_eval_count"); count != json.end()) {
      result_.prompt_tokens = ClampedInt(*count);
    }
    if (const auto count = json.find("eval_count"); count != json.end()) {
      result_.completion_tokens = ClampedInt(*count);
    }
    return absl::OkStatus();
  }

  Backend::OnDelta on_delta_;
  Backend::OnDone done_;
  NdjsonParser parser_;
  std::string error_body_;
  absl::Status stream_error_;
  GenerateResult result_;
  int lines_ = 0;
  bool finished_ = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<OllamaBackend>> OllamaBackend::Create(HttpClient& http,
                                                                     absl::string_view base_url) {
  absl::StatusOr<std::string> url = NormalizeBaseUrl(base_url);
  if (!url.ok()) return url.status();
  return std::unique_ptr<OllamaBackend>(new OllamaBackend(http, absl::StrCat(*url, "/api/chat")));
}

std::string OllamaBackend::RequestBody(const GenerateParams& params) {
  Json messages = Json::array();
  for (const ChatMessage& message : params.messages) {
    messages.push_back({{"role", message.role}, {"content", message.content}});
  }
  Json options = Json::object();
  if (params.max_tokens > 0) options["num_predict"] = params.max_tokens;
  if (params.temperature.has_value()) options["temperature"] = *params.temperature;
  const Json body = {{"model", params.backend_model},
                     {"messages", std::move(messages)},
                     {"stream", true},
                     {"options", std::move(options)}};
  // Replacing invalid UTF-8 rather than throwing: the gateway validated the text already.
  return body.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::unique_ptr<Generation> OllamaBackend::Start(const GenerateParams& params, OnDelta on_delta,
                                                 OnDone done) {
  HttpRequest request;
  request.url = chat_url_;
  request.headers = {{"Content-Type", "application/json"}, {"Accept", "application/x-ndjson"}};
  request.body = RequestBody(params);
  request.deadline = params.deadline;
  const HttpClient::TransferId id = http_.Start(
      std::move(request), std::make_unique<OllamaStream>(std::move(on_delta), std::move(done)));
  return std::make_unique<HttpGeneration>(http_, id);
}

}  // namespace spine::llm
