#include "services/llm/llm_config.h"

namespace spine::llm {

LlmConfig ReadLlmConfig(ConfigReader& reader) {
  LlmConfig config;
  config.common = ReadCommonConfig(reader, "llm");
  config.models_file = reader.String("SPINE_LLM_MODELS_FILE", "");
  config.max_prompt_chars = reader.Int("SPINE_LLM_MAX_PROMPT_CHARS", 100000, 1, 10'000'000);
  config.audit_prompts = reader.OneOf("SPINE_AUDIT_PROMPTS", "metadata", {"metadata", "full"});
  // Conversations and the audit log live in spine-storage, reached with this token. A JWT is
  // far longer than 32 characters; the bound only catches an empty or truncated file.
  config.service_token = reader.SecretOrFile("SPINE_SERVICE_TOKEN", 32);
  config.store_threads = reader.Int("SPINE_LLM_STORE_THREADS", 2, 1, 64);
  config.user_max_concurrent = reader.Int("SPINE_LLM_USER_MAX_CONCURRENT", 16, 1, 100000);
  config.user_requests_per_minute =
      reader.Int("SPINE_LLM_USER_REQUESTS_PER_MINUTE", 120, 1, 1'000'000);
  config.audit_queue_limit = reader.Int("SPINE_AUDIT_QUEUE_LIMIT", 4096, 1, 1'000'000);
  config.step_concurrency = reader.Int("SPINE_LLM_STEP_CONCURRENCY", 16, 1, 1024);
  config.backend_check_ms = reader.Int("SPINE_LLM_BACKEND_CHECK_MS", 10000, 100, 3'600'000);
  return config;
}

}  // namespace spine::llm
