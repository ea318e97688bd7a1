// ModelConfig: one model spine-llm serves, as read from the models file (SPINE_LLM_MODELS_FILE).
//
// The file is strict JSON:
//   {"models": [{"name": "stub", "backend": "stub", "maxConcurrency": 4, "queueLimit": 100,
//                "timeoutMs": 120000, "contextChars": 32000,
//                "stub": {"firstTokenMs": 0, "tokenMs": 0}}, ...]}
// Fields: name (required; letters, digits and . _ : -, 1..64 characters, unique), backend
// (required: "stub", "ollama" or "openai"), baseUrl (required for ollama and openai, an http(s)
// URL; not allowed for stub), backendModel (the model's name at the backend; default: name),
// maxConcurrency (1..1000, default 1), queueLimit (1..10000, default 100), timeoutMs (1..3600000,
// default 120000), contextChars (1..10000000, default 32000), apiKeyEnv / apiKeyFile (openai
// only, at most one: where the API key is read from — never the key itself), stub (stub only:
// firstTokenMs 0..600000, tokenMs 0..60000, both default 0). Anything else is rejected, and every
// error names the field's path ("models[1].queueLimit: 0, must be 1..10000").
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace spine::llm {

struct ModelConfig {
  std::string name{};
  std::string backend{};        // "stub", "ollama" or "openai"
  std::string base_url{};       // empty for stub
  std::string backend_model{};  // the model's name at the backend
  int max_concurrency = 1;
  int queue_limit = 100;
  absl::Duration timeout = absl::Seconds(120);  // longest a generation may run once started
  int context_chars = 32000;                    // history is trimmed to this many characters
  std::string api_key_env{};                    // openai: environment variable holding the key
  std::string api_key_file{};                   // openai: file holding the key
  absl::Duration stub_first_token = absl::ZeroDuration();  // stub: time to the first token
  absl::Duration stub_token = absl::ZeroDuration();        // stub: time between tokens
};

// Parses the models file's text. INVALID_ARGUMENT naming the first problem and its path.
absl::StatusOr<std::vector<ModelConfig>> ParseModelsJson(absl::string_view json);

// Reads and parses the models file at `path`; NOT_FOUND when it cannot be read, otherwise as
// ParseModelsJson with the path in front of the message.
absl::StatusOr<std::vector<ModelConfig>> LoadModelsFile(const std::string& path);

}  // namespace spine::llm
