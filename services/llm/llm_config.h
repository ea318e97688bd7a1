// LlmConfig: every setting spine-llm reads, filled and validated once in main.cc.
#pragma once

#include <cstdint>
#include <string>

#include "libs/core/common_config.h"
#include "libs/core/config_reader.h"

namespace spine::llm {

struct LlmConfig {
  CommonConfig common;
  std::string models_file{};             // SPINE_LLM_MODELS_FILE; empty: the built-in stub models
  int64_t max_prompt_chars = 0;          // SPINE_LLM_MAX_PROMPT_CHARS
  std::string audit_prompts{};           // SPINE_AUDIT_PROMPTS: "metadata" or "full"
  std::string service_token{};           // SPINE_SERVICE_TOKEN or the file SPINE_SERVICE_TOKEN_FILE
  int64_t store_threads = 0;             // SPINE_LLM_STORE_THREADS: storage writes after replies
  int64_t user_max_concurrent = 0;       // SPINE_LLM_USER_MAX_CONCURRENT
  int64_t user_requests_per_minute = 0;  // SPINE_LLM_USER_REQUESTS_PER_MINUTE
  int64_t audit_queue_limit = 0;         // SPINE_AUDIT_QUEUE_LIMIT: events waiting for storage
  int64_t step_concurrency = 0;          // SPINE_LLM_STEP_CONCURRENCY: pipeline steps run at once
  int64_t backend_check_ms = 0;  // SPINE_LLM_BACKEND_CHECK_MS: how often backends are checked
};

LlmConfig ReadLlmConfig(ConfigReader& reader);

}  // namespace spine::llm
