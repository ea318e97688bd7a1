#include "services/llm/model_registry.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "libs/core/status.h"
#include "services/llm/backends/ollama_backend.h"
#include "services/llm/backends/openai_backend.h"
#include "services/llm/backends/stub_backend.h"
#include "services/llm/default_models.h"

namespace spine::llm {
namespace {

absl::StatusOr<std::string> ApiKeyOf(const ModelConfig& model) {
  if (!model.api_key_file.empty()) {
    std::ifstream in(model.api_key_file);
    std::stringstream key;
    key << in.rdbuf();
    if (!in) {
      return absl::FailedPreconditionError(
          absl::StrCat("model '", model.name, "': cannot read its apiKeyFile"));
    }
    return std::string(absl::StripAsciiWhitespace(key.str()));
  }
  if (!model.api_key_env.empty()) {
    const char* key = std::getenv(model.api_key_env.c_str());
    if (key == nullptr || *key == '\0') {
      return absl::FailedPreconditionError(absl::StrCat("model '", model.name, "': its apiKeyEnv ",
                                                        model.api_key_env, " is not set"));
    }
    return std::string(key);
  }
  return std::string();  // a local server without a key
}

}  // namespace

absl::StatusOr<std::vector<ModelConfig>> LoadModels(const std::string& models_file) {
  if (models_file.empty()) return ParseModelsJson(kDefaultModelsJson);
  return LoadModelsFile(models_file);
}

absl::StatusOr<std::unique_ptr<ModelRegistry>> ModelRegistry::Create(
    std::vector<ModelConfig> models, const Clock& clock) {
  std::unique_ptr<ModelRegistry> registry(new ModelRegistry(clock));
  std::map<std::string, Backend*> by_model;
  for (const ModelConfig& model : models) {
    std::unique_ptr<Backend> backend;
    if (model.backend == "stub") {
      backend = std::make_unique<StubBackend>(
          StubTimings{.first_token = model.stub_first_token, .per_token = model.stub_token},
          registry->scheduler_, clock);
    } else {
      if (registry->http_ == nullptr) {
        SPINE_ASSIGN_OR_RETURN(registry->http_, HttpClient::Create({}));
      }
      if (model.backend == "ollama") {
        SPINE_ASSIGN_OR_RETURN(backend, OllamaBackend::Create(*registry->http_, model.base_url));
      } else {
        SPINE_ASSIGN_OR_RETURN(std::string key, ApiKeyOf(model));
        SPINE_ASSIGN_OR_RETURN(backend,
                               OpenAiBackend::Create(*registry->http_, model.base_url, key));
      }
    }
    by_model[model.name] = backend.get();
    registry->backends_.push_back(std::move(backend));
  }
  SPINE_ASSIGN_OR_RETURN(registry->pool_, RunnerPool::Create(std::move(models), by_model,
                                                             registry->scheduler_, clock));
  return registry;
}

ModelRegistry::~ModelRegistry() { pool_.reset(); }

absl::flat_hash_map<std::string, int64_t> ModelRegistry::ContextChars() const {
  absl::flat_hash_map<std::string, int64_t> chars;
  for (const ModelConfig& model : pool_->models()) chars[model.name] = model.context_chars;
  return chars;
}

}  // namespace spine::llm
