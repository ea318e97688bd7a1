#include "services/llm/backends/base_url.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace spine::llm {

absl::StatusOr<std::string> NormalizeBaseUrl(absl::string_view base_url) {
  absl::string_view url = base_url;
  while (absl::EndsWith(url, "/")) url.remove_suffix(1);
  absl::string_view rest = url;
  if (!absl::ConsumePrefix(&rest, "http://") && !absl::ConsumePrefix(&rest, "https://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("baseUrl \"", base_url, "\": must start with http:// or https://"));
  }
  if (rest.empty() || rest.front() == '/') {
    return absl::InvalidArgumentError(absl::StrCat("baseUrl \"", base_url, "\": has no host"));
  }
  if (rest.find_first_of("?# \t\r\n") != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("baseUrl \"", base_url, "\": has a query, fragment or whitespace"));
  }
  return std::string(url);
}

}  // namespace spine::llm
