// Running shell commands from tests (the repository's scripts, planted trees): quoting, and a
// command's exit status with its combined stdout and stderr.
#pragma once

#include <stdio.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <string>

namespace spine::testing {

// `s` as one single-quoted shell word.
inline std::string ShellQuote(const std::string& s) {
  std::string quoted = "'";
  for (const char c : s) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  quoted += "'";
  return quoted;
}

struct ShellResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr, interleaved as written
};

// Runs `command` with /bin/sh and waits for it; a command that did not exit normally fails the
// test.
inline ShellResult RunShell(const std::string& command) {
  ShellResult result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buffer[4096];
  size_t n = 0;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) result.output.append(buffer, n);
  const int status = pclose(pipe);
  REQUIRE(status != -1);
  REQUIRE(WIFEXITED(status));
  result.exit_code = WEXITSTATUS(status);
  return result;
}

}  // namespace spine::testing
