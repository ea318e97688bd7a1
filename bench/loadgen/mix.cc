#include "bench/loadgen/mix.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace spine::loadgen {
namespace {

absl::StatusOr<MixRequest> ParseRequest(const nlohmann::json& j, bool weighted) {
  MixRequest r;
  if (!j.is_object() || !j.contains("name") || !j.contains("method") || !j.contains("path")) {
    return absl::InvalidArgumentError("a request needs name, method and path");
  }
  r.name = j.at("name").get<std::string>();
  r.method = j.at("method").get<std::string>();
  r.path = j.at("path").get<std::string>();
  if (weighted) {
    if (!j.contains("weight") || !j.at("weight").is_number_unsigned() ||
        j.at("weight").get<uint32_t>() == 0) {
      return absl::InvalidArgumentError(absl::StrCat("request '", r.name, "': weight must be > 0"));
    }
    r.weight = j.at("weight").get<uint32_t>();
  }
  if (j.contains("body")) r.body = j.at("body").dump();
  r.sse = j.value("sse", false);
  if (j.contains("expect")) r.expect = j.at("expect").get<std::vector<int>>();
  if (r.expect.empty()) r.expect = {200};
  if (j.contains("capture")) {
    for (const auto& [var, field] : j.at("capture").items()) {
      r.capture[var] = field.get<std::string>();
    }
  }
  return r;
}

}  // namespace

absl::StatusOr<Mix> ParseMix(const std::string& json_text) {
  try {
    const nlohmann::json j = nlohmann::json::parse(json_text);
    Mix mix;
    mix.login_path = j.at("login").at("path").get<std::string>();
    mix.username_template = j.at("login").at("usernameTemplate").get<std::string>();
    for (const auto& s : j.value("setup", nlohmann::json::array())) {
      auto r = ParseRequest(s, false);
      if (!r.ok()) return r.status();
      mix.setup.push_back(*std::move(r));
    }
    for (const auto& s : j.at("requests")) {
      auto r = ParseRequest(s, true);
      if (!r.ok()) return r.status();
      mix.requests.push_back(*std::move(r));
    }
    if (mix.requests.empty()) return absl::InvalidArgumentError("the mix has no request");
    return mix;
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("mix: ", e.what()));
  }
}

std::string Substitute(const std::string& text, const Vars& vars, bool json_string_escape) {
  std::string out;
  out.reserve(text.size() + 32);
  size_t i = 0;
  while (i < text.size()) {
    const size_t open = text.find("${", i);
    if (open == std::string::npos) break;
    const size_t close = text.find('}', open + 2);
    if (close == std::string::npos) break;
    out.append(text, i, open - i);
    const auto it = vars.find(std::string_view(text).substr(open + 2, close - open - 2));
    if (it == vars.end()) {
      out.append(text, open, close + 1 - open);
    } else if (json_string_escape) {
      const std::string quoted = nlohmann::json(it->second).dump();
      out.append(quoted, 1, quoted.size() - 2);
    } else {
      out += it->second;
    }
    i = close + 1;
  }
  out.append(text, i, std::string::npos);
  return out;
}

WeightedPicker::WeightedPicker(const std::vector<uint32_t>& weights, uint64_t seed) : state_(seed) {
  uint64_t sum = 0;
  for (uint32_t w : weights) cumulative_.push_back(sum += w);
}

uint64_t WeightedPicker::Next() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

size_t WeightedPicker::Pick() {
  if (cumulative_.empty() || cumulative_.back() == 0) return 0;
  // The modulo bias of a 64-bit draw over a total of a few hundred is below 1e-16.
  const uint64_t x = Next() % cumulative_.back();
  return static_cast<size_t>(std::upper_bound(cumulative_.begin(), cumulative_.end(), x) -
                             cumulative_.begin());
}

}  // namespace spine::loadgen
