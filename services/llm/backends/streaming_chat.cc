#include "services/llm/backends/streaming_chat.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "services/llm/backends/http_error_status.h"
#include "services/llm/backends/http_generation.h"

namespace spine::llm {
namespace {

using Json = nlohmann::json;

constexpr size_t kMaxErrorBodyBytes = size_t{64} * 1024;

bool IsSuccess(int http_status) { return http_status >= 200 && http_status <= 299; }

}  // namespace

Json ChatMessagesJson(const std::vector<ChatMessage>& messages) {
  Json json = Json::array();
  for (const ChatMessage& message : messages) {
    json.push_back({{"role", message.role}, {"content", message.content}});
  }
  return json;
}

std::string DumpRequestBody(const Json& body) {
  return body.dump(-1, ' ', false, Json::error_handler_t::replace);
}

int ClampedTokenCount(const Json& value) {
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

HttpRequest JsonPostRequest(std::string url, absl::string_view accept, std::string body,
                            absl::Time deadline) {
  HttpRequest request;
  request.url = std::move(url);
  request.headers = {{"Content-Type", "application/json"}, {"Accept", std::string(accept)}};
  request.body = std::move(body);
  request.deadline = deadline;
  return request;
}

std::unique_ptr<Generation> StartHttpGeneration(HttpClient& http, HttpRequest request,
                                                std::unique_ptr<HttpResponseHandler> handler) {
  const HttpClient::TransferId id = http.Start(std::move(request), std::move(handler));
  return std::make_unique<HttpGeneration>(http, id);
}

absl::Status StreamingChatHandler::OnData(int http_status, absl::string_view chunk) {
  // Kept so that Finish reports it as it is, not as a transfer error.
  stream_error_ = Consume(http_status, chunk);
  return stream_error_;
}

void StreamingChatHandler::OnComplete(absl::Status status, int http_status) {
  done_(Finish(status, http_status));
}

void StreamingChatHandler::AppendText(const std::string& text) {
  if (text.empty()) return;
  result_.text += text;
  if (on_delta_) on_delta_(text);  // a unary generate wants only the whole text
}

absl::Status StreamingChatHandler::ParserError(const absl::Status& parser_error) const {
  return StatusForBadResponse(backend_, parser_error.message());
}

absl::Status StreamingChatHandler::Consume(int http_status, absl::string_view chunk) {
  if (!IsSuccess(http_status)) {
    // An error reply: keep (the start of) its body for the message.
    const size_t room = kMaxErrorBodyBytes - std::min(kMaxErrorBodyBytes, error_body_.size());
    error_body_.append(chunk.data(), std::min(room, chunk.size()));
    return absl::OkStatus();
  }
  return ConsumeBody(chunk);
}

absl::StatusOr<GenerateResult> StreamingChatHandler::Finish(const absl::Status& status,
                                                            int http_status) {
  // Once the end of the reply arrived it is whole, whatever happens to the connection.
  if (finished_) return std::move(result_);
  if (!stream_error_.ok()) return stream_error_;
  if (!status.ok()) return StatusForTransportError(backend_, status);
  if (!IsSuccess(http_status)) {
    return StatusForHttpError(backend_, http_status, ErrorMessageFromBody(error_body_));
  }
  if (absl::Status end = EndOfBody(); !end.ok()) return end;
  return std::move(result_);
}

}  // namespace spine::llm
