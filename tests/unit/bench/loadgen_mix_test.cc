#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "bench/loadgen/generator.h"
#include "bench/loadgen/mix.h"
#include "catch2/catch.hpp"
#include "nlohmann/json.hpp"

namespace spine::loadgen {
namespace {

std::string ReadMix() {
  std::ifstream in(SPINE_SOURCE_DIR "/tests/load/mix.json");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST_CASE("placeholders: ${session}, ${n} and captures are replaced, {{...}} is not") {
  const Vars vars{{"session", "7"}, {"n", "42"}, {"thoughtId", "123"}};
  CHECK(Substitute("/api/thoughts/${thoughtId}", vars, false) == "/api/thoughts/123");
  CHECK(Substitute("load note ${n} of session ${session}", vars, false) ==
        "load note 42 of session 7");
  CHECK(Substitute("Three keywords for: {{input}}", vars, false) ==
        "Three keywords for: {{input}}");
  CHECK(Substitute("{{steps.keywords.output.text}} ${n}", vars, false) ==
        "{{steps.keywords.output.text}} 42");
  // An unknown or unterminated placeholder stays as it is.
  CHECK(Substitute("${conversationId}/x", vars, false) == "${conversationId}/x");
  CHECK(Substitute("a ${n", vars, false) == "a ${n");
  // In a body, values are escaped for a JSON string.
  CHECK(Substitute(R"({"t": "${q}"})", {{"q", "say \"hi\"\n"}}, true) ==
        R"({"t": "say \"hi\"\n"})");
}

TEST_CASE("the shared mix parses, and its bodies stay valid JSON after substitution") {
  const auto mix = ParseMix(ReadMix());
  REQUIRE(mix.ok());
  CHECK(mix->login_path == "/api/auth/login");
  CHECK(Substitute(mix->username_template, {{"session", "12"}}, false) == "load12");
  REQUIRE(mix->setup.size() == 2);
  CHECK(mix->setup[0].capture.at("thoughtId") == "id");
  const Vars vars{{"session", "3"}, {"n", "99"}, {"thoughtId", "5"}, {"conversationId", "8"}};
  bool saw_run = false;
  for (const MixRequest& r : mix->requests) {
    CHECK(r.weight > 0);
    CHECK(Substitute(r.path, vars, false).find("${") == std::string::npos);
    if (r.body.empty()) continue;
    const auto body = nlohmann::json::parse(Substitute(r.body, vars, true));
    if (r.name == "runs.wait") {
      saw_run = true;
      CHECK(body.at("input") == "note 99");
      const auto& steps = body.at("definition").at("steps");
      CHECK(steps.at(0).at("llm").at("prompt") == "Three keywords for: {{input}}");
      CHECK(steps.at(1).at("plugin").at("input").at("text") == "{{steps.keywords.output.text}}");
    }
  }
  CHECK(saw_run);
  const auto stream = std::find_if(mix->requests.begin(), mix->requests.end(),
                                   [](const MixRequest& r) { return r.name == "llm.stream"; });
  REQUIRE(stream != mix->requests.end());
  CHECK(stream->sse);
  CHECK_FALSE(ParseMix("{}").ok());
  CHECK_FALSE(ParseMix("not json").ok());
}

TEST_CASE("the weighted pick is deterministic with a seed and follows the weights") {
  const std::vector<uint32_t> weights{18, 12, 14, 9, 8, 5, 5, 6, 8, 6, 9, 0};
  WeightedPicker a(weights, 7);
  WeightedPicker b(weights, 7);
  WeightedPicker c(weights, 8);
  std::vector<size_t> seq_a;
  std::vector<size_t> seq_c;
  for (int i = 0; i < 1000; ++i) {
    seq_a.push_back(a.Pick());
    REQUIRE(b.Pick() == seq_a.back());
    seq_c.push_back(c.Pick());
  }
  CHECK(seq_a != seq_c);

  constexpr int kPicks = 1000000;
  std::map<size_t, int> counts;
  WeightedPicker p(weights, 1);
  for (int i = 0; i < kPicks; ++i) ++counts[p.Pick()];
  const double total = 100;
  for (size_t i = 0; i < weights.size(); ++i) {
    const double expected = kPicks * weights[i] / total;
    const double sigma = std::sqrt(expected);
    INFO("index " << i << " expected " << expected << " got " << counts[i]);
    CHECK(std::abs(counts[i] - expected) <= 5 * sigma);
  }
  CHECK(counts[weights.size() - 1] == 0);  // weight 0: never
}

TEST_CASE("sessions: enough to stay under the per-session rate, each its own address") {
  CHECK(SessionsFor(50000, 85) == 589);
  CHECK(50000.0 / SessionsFor(50000, 85) < 90);
  CHECK(SessionsFor(2500, 85) == 30);
  CHECK(SessionsFor(10, 85) == 1);
  std::set<std::string> addresses;
  for (int s = 0; s < 70000; ++s) addresses.insert(SessionAddress(s));
  CHECK(addresses.size() == 70000);
  CHECK(SessionAddress(1) == "10.0.0.2");
  CHECK(SessionAddress(300) == "10.0.1.45");
}

}  // namespace
}  // namespace spine::loadgen
