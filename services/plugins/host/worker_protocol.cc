#include "services/plugins/host/worker_protocol.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/core/utf8.h"
#include "libs/rpc/error_info.h"
#include "nlohmann/json.hpp"

namespace spine::plugins {
namespace {

using Json = nlohmann::json;

constexpr size_t kMaxLogLines = 101;
constexpr size_t kMaxLogBytes = 1000;
constexpr size_t kMaxMessageBytes = 1000;
constexpr int kMaxOutputDepth = 64;

// Whether JSON `text` nests arrays and objects at most `max_depth` deep (strings skipped), so
// that neither the parser nor the printer recurses without bound.
bool NestingWithin(absl::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return false;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return true;
}

}  // namespace

absl::Status BadOutput(absl::string_view plugin, absl::string_view why) {
  return rpc::WithErrorInfo(
      absl::InternalError(absl::StrCat("plugin '", plugin, "' answered badly: ", why)),
      kPluginBadOutput);
}

absl::Status Crashed(absl::string_view plugin, absl::string_view why) {
  return rpc::WithErrorInfo(
      absl::InternalError(absl::StrCat("plugin '", plugin, "' crashed: ", why)), kPluginCrashed);
}

std::string CleanText(absl::string_view text, size_t max) {
  std::string out;
  out.reserve(std::min(text.size(), max));
  while (!text.empty()) {
    const Utf8Check check = CheckUtf8(text);
    const absl::string_view good = text.substr(0, check.bad_offset);
    if (out.size() + good.size() > max) {
      // Cut before the first byte of a sequence that does not fit whole.
      size_t keep = max - out.size();
      while (keep > 0 && (static_cast<unsigned char>(good[keep]) & 0xC0) == 0x80) --keep;
      out.append(good.data(), keep);
      return out;
    }
    out.append(good.data(), good.size());
    if (check.valid) break;
    if (out.size() + 3 > max) break;
    out.append("\xEF\xBF\xBD");  // U+FFFD for the ill-formed byte
    text.remove_prefix(check.bad_offset + 1);
  }
  return out;
}

absl::Status ParseHello(absl::string_view plugin, absl::string_view line) {
  if (!NestingWithin(line, 4)) return BadOutput(plugin, "it printed something before starting");
  const Json hello = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (hello.is_object() && hello.size() == 1 && hello.contains("ready") && hello["ready"] == true) {
    return absl::OkStatus();
  }
  if (hello.is_object() && hello.contains("fatal") && hello["fatal"].is_string()) {
    return rpc::WithErrorInfo(absl::InternalError(absl::StrCat(
                                  "plugin '", plugin, "' failed to load: ",
                                  CleanText(hello["fatal"].get<std::string>(), kMaxMessageBytes))),
                              kPluginError);
  }
  return BadOutput(plugin, "it printed something before starting");
}

Answer ParseAnswer(absl::string_view plugin, absl::string_view line, uint64_t id,
                   size_t max_output_bytes) {
  Answer answer;
  if (!NestingWithin(line, kMaxOutputDepth + 2)) {
    answer.output =
        BadOutput(plugin, absl::StrCat("output nested deeper than ", kMaxOutputDepth, " levels"));
    return answer;
  }
  const Json parsed = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object() || !parsed.contains("id") || !parsed["id"].is_number_unsigned() ||
      parsed["id"].get<uint64_t>() != id) {
    answer.output = BadOutput(plugin, "a line that is not its answer");
    return answer;
  }
  answer.worker_ok = true;
  if (auto logs = parsed.find("logs"); logs != parsed.end() && logs->is_array()) {
    for (const Json& entry : *logs) {
      if (answer.logs.size() == kMaxLogLines) break;
      if (entry.is_string()) {
        answer.logs.push_back(CleanText(entry.get<std::string>(), kMaxLogBytes));
      }
    }
  }
  if (auto output = parsed.find("output"); output != parsed.end()) {
    std::string text = output->dump(-1, ' ', false, Json::error_handler_t::replace);
    if (text.size() > max_output_bytes) {
      answer.output = BadOutput(
          plugin, absl::StrCat("output of ", text.size(), " bytes, over ", max_output_bytes));
      return answer;
    }
    answer.output = std::move(text);
    return answer;
  }
  if (auto error = parsed.find("error"); error != parsed.end() && error->is_string()) {
    answer.output = rpc::WithErrorInfo(
        absl::InternalError(absl::StrCat("plugin '", plugin, "' failed: ",
                                         CleanText(error->get<std::string>(), kMaxMessageBytes))),
        kPluginError);
    return answer;
  }
  if (auto bad = parsed.find("badOutput"); bad != parsed.end() && bad->is_string()) {
    answer.output = BadOutput(plugin, CleanText(bad->get<std::string>(), kMaxMessageBytes));
    return answer;
  }
  answer.worker_ok = false;
  answer.output = BadOutput(plugin, "an answer with neither output nor error");
  return answer;
}

}  // namespace spine::plugins
