// LlmConfig: every setting spine-llm reads, filled and validated once in main.cc.
#pragma once

#include "libs/core/common_config.h"
#include "libs/core/config_reader.h"

namespace spine::llm {

struct LlmConfig {
  CommonConfig common;
};

LlmConfig ReadLlmConfig(ConfigReader& reader);

}  // namespace spine::llm
