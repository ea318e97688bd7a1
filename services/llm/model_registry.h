// ModelRegistry: everything that runs models, built once from the models file — the timer
// thread, one backend per model (stub, ollama or openai-compatible; the real ones share one
// libcurl client), and the RunnerPool over them. Owns them all, in the order they must stop.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "libs/core/clock.h"
#include "libs/core/scheduler.h"
#include "services/llm/backends/backend.h"
#include "services/llm/backends/http_client.h"
#include "services/llm/model_config.h"
#include "services/llm/runner_pool.h"

namespace spine::llm {

class ModelRegistry {
 public:
  // Builds the backends of `models`. An openai model's key is read from its `apiKeyFile` or the
  // environment variable `apiKeyEnv`; a key that cannot be read is an error naming the model
  // (never the key).
  static absl::StatusOr<std::unique_ptr<ModelRegistry>> Create(std::vector<ModelConfig> models,
                                                               const Clock& clock);
  ~ModelRegistry();

  RunnerPool& pool() { return *pool_; }
  // Each model's context length, for the conversation orchestrator.
  absl::flat_hash_map<std::string, int64_t> ContextChars() const;

 private:
  explicit ModelRegistry(const Clock& clock) : scheduler_(clock) {}

  ThreadScheduler scheduler_;
  std::unique_ptr<HttpClient> http_;
  std::vector<std::unique_ptr<Backend>> backends_;
  std::unique_ptr<RunnerPool> pool_;  // last: stops first, while its backends still run
};

// The models to serve: SPINE_LLM_MODELS_FILE when set, else the built-in stub models.
absl::StatusOr<std::vector<ModelConfig>> LoadModels(const std::string& models_file);

}  // namespace spine::llm
