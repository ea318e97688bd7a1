#include "services/llm/llm_config.h"

namespace spine::llm {

LlmConfig ReadLlmConfig(ConfigReader& reader) {
  LlmConfig config;
  config.common = ReadCommonConfig(reader, "llm");
  return config;
}

}  // namespace spine::llm
