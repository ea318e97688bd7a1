#include "services/llm/model_config.h"

#include <cstdint>
#include <fstream>
#include <initializer_list>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libs/core/status.h"
#include "nlohmann/json.hpp"

namespace spine::llm {
namespace {

using nlohmann::json;

absl::Status Invalid(absl::string_view path, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", problem));
}

// A JSON value's type in the words an error message uses.
std::string TypeName(const json& value) {
  if (value.is_number_integer()) return "an integer";
  if (value.is_number()) return "a number";
  if (value.is_string()) return "a string";
  if (value.is_boolean()) return "a boolean";
  if (value.is_null()) return "null";
  if (value.is_array()) return "an array";
  return "an object";
}

std::string JoinPath(absl::string_view path, absl::string_view field) {
  return path.empty() ? std::string(field) : absl::StrCat(path, ".", field);
}

// Reads the fields of one JSON object at `path`, rejecting any field not in `allowed`.
class ObjectReader {
 public:
  static absl::StatusOr<ObjectReader> Create(const json& value, std::string path,
                                             std::initializer_list<absl::string_view> allowed) {
    if (!value.is_object()) {
      return Invalid(path.empty() ? "(document)" : path,
                     absl::StrCat(TypeName(value), ", want an object"));
    }
    for (const auto& [key, unused] : value.items()) {
      bool known = false;
      for (absl::string_view name : allowed) known = known || key == name;
      if (!known) {
        return Invalid(JoinPath(path, key),
                       absl::StrCat("unknown field (known: ", absl::StrJoin(allowed, ", "), ")"));
      }
    }
    return ObjectReader(value, std::move(path));
  }

  std::string Path(absl::string_view field) const { return JoinPath(path_, field); }
  bool Has(absl::string_view field) const { return value_.contains(std::string(field)); }

  // The string field, nullopt when absent; an error when present but not a non-empty string.
  absl::StatusOr<std::optional<std::string>> String(absl::string_view field) const {
    if (!Has(field)) return std::nullopt;
    const json& v = value_.at(std::string(field));
    if (!v.is_string()) return Invalid(Path(field), absl::StrCat(TypeName(v), ", want a string"));
    std::string s = v.get<std::string>();
    if (s.empty()) return Invalid(Path(field), "empty");
    return s;
  }

  // The integer field in [min, max], or `fallback` when absent.
  absl::StatusOr<int64_t> Int(absl::string_view field, int64_t min, int64_t max,
                              int64_t fallback) const {
    if (!Has(field)) return fallback;
    const json& v = value_.at(std::string(field));
    if (!v.is_number_integer()) {
      return Invalid(Path(field), absl::StrCat(TypeName(v), ", want an integer"));
    }
    // Unsigned values above int64 range come back as huge; compare in the unsigned domain first.
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(max)) {
      return Invalid(Path(field), absl::StrCat(v.dump(), ", must be ", min, "..", max));
    }
    const auto n = v.get<int64_t>();
    if (n < min || n > max) {
      return Invalid(Path(field), absl::StrCat(n, ", must be ", min, "..", max));
    }
    return n;
  }

  const json& value() const { return value_; }

 private:
  ObjectReader(const json& value, std::string path) : value_(value), path_(std::move(path)) {}

  const json& value_;
  std::string path_;
};

bool ValidName(absl::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(c) && c != '.' && c != '_' && c != ':' && c != '-') return false;
  }
  return true;
}

absl::Status ReadStub(const json& value, const std::string& path, ModelConfig& model) {
  SPINE_ASSIGN_OR_RETURN(ObjectReader stub,
                         ObjectReader::Create(value, path, {"firstTokenMs", "tokenMs"}));
  SPINE_ASSIGN_OR_RETURN(const int64_t first_ms, stub.Int("firstTokenMs", 0, 600000, 0));
  SPINE_ASSIGN_OR_RETURN(const int64_t token_ms, stub.Int("tokenMs", 0, 60000, 0));
  model.stub_first_token = absl::Milliseconds(first_ms);
  model.stub_token = absl::Milliseconds(token_ms);
  return absl::OkStatus();
}

absl::StatusOr<ModelConfig> ReadModel(const json& value, const std::string& path) {
  SPINE_ASSIGN_OR_RETURN(ObjectReader in,
                         ObjectReader::Create(value, path,
                                              {"name", "backend", "baseUrl", "backendModel",
                                               "maxConcurrency", "queueLimit", "timeoutMs",
                                               "contextChars", "apiKeyEnv", "apiKeyFile", "stub"}));
  ModelConfig model;

  SPINE_ASSIGN_OR_RETURN(std::optional<std::string> name, in.String("name"));
  if (!name) return Invalid(in.Path("name"), "missing");
  if (!ValidName(*name)) {
    return Invalid(
        in.Path("name"),
        absl::StrCat("\"", *name, "\": use 1..64 letters, digits and the characters . _ : -"));
  }
  model.name = *std::move(name);

  SPINE_ASSIGN_OR_RETURN(std::optional<std::string> backend, in.String("backend"));
  if (!backend) return Invalid(in.Path("backend"), "missing");
  if (*backend != "stub" && *backend != "ollama" && *backend != "openai") {
    return Invalid(in.Path("backend"),
                   absl::StrCat("\"", *backend, "\", must be \"stub\", \"ollama\" or \"openai\""));
  }
  model.backend = *std::move(backend);
  const bool is_stub = model.backend == "stub";

  SPINE_ASSIGN_OR_RETURN(std::optional<std::string> base_url, in.String("baseUrl"));
  if (is_stub && base_url) return Invalid(in.Path("baseUrl"), "not used by the stub backend");
  if (!is_stub && !base_url) {
    return Invalid(in.Path("baseUrl"), absl::StrCat("missing (required for ", model.backend, ")"));
  }
  if (base_url && !absl::StartsWith(*base_url, "http://") &&
      !absl::StartsWith(*base_url, "https://")) {
    return Invalid(in.Path("baseUrl"), absl::StrCat("\"", *base_url, "\" is not an http(s) URL"));
  }
  model.base_url = base_url.value_or("");

  SPINE_ASSIGN_OR_RETURN(std::optional<std::string> backend_model, in.String("backendModel"));
  model.backend_model = backend_model.value_or(model.name);

  SPINE_ASSIGN_OR_RETURN(model.max_concurrency, in.Int("maxConcurrency", 1, 1000, 1));
  SPINE_ASSIGN_OR_RETURN(model.queue_limit, in.Int("queueLimit", 1, 10000, 100));
  SPINE_ASSIGN_OR_RETURN(const int64_t timeout_ms, in.Int("timeoutMs", 1, 3600000, 120000));
  model.timeout = absl::Milliseconds(timeout_ms);
  SPINE_ASSIGN_OR_RETURN(model.context_chars, in.Int("contextChars", 1, 10000000, 32000));

  SPINE_ASSIGN_OR_RETURN(std::optional<std::string> key_env, in.String("apiKeyEnv"));
  SPINE_ASSIGN_OR_RETURN(std::optional<std::string> key_file, in.String("apiKeyFile"));
  if ((key_env || key_file) && model.backend != "openai") {
    return Invalid(in.Path(key_env ? "apiKeyEnv" : "apiKeyFile"),
                   "only the openai backend takes an API key");
  }
  if (key_env && key_file)
    return Invalid(in.Path("apiKeyFile"), "give apiKeyEnv or apiKeyFile, not both");
  model.api_key_env = key_env.value_or("");
  model.api_key_file = key_file.value_or("");

  if (in.Has("stub")) {
    if (!is_stub) return Invalid(in.Path("stub"), "only the stub backend takes stub timings");
    SPINE_RETURN_IF_ERROR(ReadStub(in.value().at("stub"), in.Path("stub"), model));
  }
  return model;
}

}  // namespace

absl::StatusOr<std::vector<ModelConfig>> ParseModelsJson(absl::string_view text) {
  json doc;
  try {
    doc = json::parse(text.begin(), text.end());
  } catch (const json::parse_error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("not valid JSON at byte ", e.byte, ": ", e.what()));
  }
  SPINE_ASSIGN_OR_RETURN(ObjectReader root, ObjectReader::Create(doc, "", {"models"}));
  if (!root.Has("models")) return Invalid("models", "missing");
  const json& models = doc.at("models");
  if (!models.is_array())
    return Invalid("models", absl::StrCat(TypeName(models), ", want an array"));
  if (models.empty()) return Invalid("models", "empty, want at least one model");

  std::vector<ModelConfig> result;
  result.reserve(models.size());
  std::map<std::string, size_t> index_by_name;
  for (size_t i = 0; i < models.size(); ++i) {
    const std::string path = absl::StrCat("models[", i, "]");
    SPINE_ASSIGN_OR_RETURN(ModelConfig model, ReadModel(models[i], path));
    auto [it, inserted] = index_by_name.emplace(model.name, i);
    if (!inserted) {
      return Invalid(
          absl::StrCat(path, ".name"),
          absl::StrCat("\"", model.name, "\" is already used by models[", it->second, "]"));
    }
    result.push_back(std::move(model));
  }
  return result;
}

absl::StatusOr<std::vector<ModelConfig>> LoadModelsFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("models file ", path, ": cannot be read"));
  std::ostringstream text;
  text << in.rdbuf();
  absl::StatusOr<std::vector<ModelConfig>> models = ParseModelsJson(text.str());
  if (!models.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("models file ", path, ": ", models.status().message()));
  }
  return models;
}

}  // namespace spine::llm
