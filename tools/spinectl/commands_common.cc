#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"
#include "tools/spinectl/commands.h"

namespace spine::spinectl {

absl::StatusOr<int64_t> ParseId(const std::string& word, const std::string& what) {
  int64_t id = 0;
  if (!absl::SimpleAtoi(word, &id) || id <= 0) {
    return UsageError(absl::StrCat(what, " \"", word, "\": not a positive number"));
  }
  return id;
}

absl::StatusOr<int32_t> ParseCount(const std::optional<std::string>& word,
                                   const std::string& what) {
  int32_t count = 0;
  if (!word) return 0;
  if (!absl::SimpleAtoi(*word, &count) || count <= 0) {
    return UsageError(absl::StrCat(what, " \"", *word, "\": not a positive number"));
  }
  return count;
}

absl::Status ParseJson(const std::string& json, google::protobuf::Message* message,
                       const std::string& what) {
  const auto status = google::protobuf::util::JsonStringToMessage(json, message);
  if (!status.ok()) {
    return UsageError(absl::StrCat(what, ": not valid JSON here: ", std::string(status.message())));
  }
  return absl::OkStatus();
}

std::string FormatTime(const google::protobuf::Timestamp& time) {
  if (time.seconds() == 0 && time.nanos() == 0) return "";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(time.seconds()),
                          absl::UTCTimeZone());
}

std::string ValueText(const google::protobuf::Value& value) {
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(value, &json).ok()) return "?";
  return json;
}

}  // namespace spine::spinectl
