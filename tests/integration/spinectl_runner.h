// Runs the built spinectl binary as a child process with its own environment and stdin, and
// collects its exit code, stdout and stderr.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace spine::testing {

struct SpinectlResult {
  // 128+signal when killed; -1 when it had to be killed for outliving `timeout`.
  int exit_code = -1;
  std::string out;
  std::string err;
  absl::Duration elapsed;
};

// Runs `SPINE_BINARY_DIR/tools/spinectl/spinectl args...` with exactly `env`, feeding
// `stdin_text` on stdin; SIGKILLs it after `timeout`. Always reaps it.
SpinectlResult RunSpinectl(const std::vector<std::string>& args,
                           const std::map<std::string, std::string>& env,
                           const std::string& stdin_text = "",
                           absl::Duration timeout = absl::Seconds(60));

}  // namespace spine::testing
