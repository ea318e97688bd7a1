#include "services/gateway/http/http_message.h"

#include "absl/strings/match.h"

namespace spine::gateway {

std::optional<std::string> HttpRequest::Header(absl::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(key, name)) return value;
  }
  return std::nullopt;
}

}  // namespace spine::gateway
