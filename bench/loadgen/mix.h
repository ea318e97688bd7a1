// The load mix (tests/load/mix.json, shared with the Artillery gates): login, per-session setup,
// weighted requests, with ${session}, ${n} and captured ${name} placeholders. {{...}} belongs to
// the pipeline templates and is never touched.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace spine::loadgen {

struct MixRequest {
  std::string name;
  uint32_t weight = 0;  // 0 for setup steps
  std::string method;
  std::string path;  // with placeholders
  std::string body;  // the JSON body serialized, with placeholders; empty: no body
  bool sse = false;  // an SSE answer, read to `event: done`
  std::vector<int> expect;
  std::map<std::string, std::string> capture;  // variable -> top-level field of the answer
};

struct Mix {
  std::string login_path;
  std::string username_template;
  std::vector<MixRequest> setup;
  std::vector<MixRequest> requests;
};

absl::StatusOr<Mix> ParseMix(const std::string& json_text);

using Vars = std::map<std::string, std::string, std::less<>>;

// Replaces every ${name} whose name is in vars; an unknown ${name} and every {{...}} stay as
// they are. With json_string_escape, values are escaped for use inside a JSON string (a body).
std::string Substitute(const std::string& text, const Vars& vars, bool json_string_escape);

// Picks an index with probability weight / total, deterministically from its seed.
class WeightedPicker {
 public:
  WeightedPicker(const std::vector<uint32_t>& weights, uint64_t seed);
  size_t Pick();

 private:
  uint64_t Next();  // splitmix64: tiny, fast and the same on every platform
  std::vector<uint64_t> cumulative_;
  uint64_t state_;
};

}  // namespace spine::loadgen
