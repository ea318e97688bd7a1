// spinectl: the command-line client of Spine's gRPC services (docs/spinectl.md).
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "tools/spinectl/app.h"

int main(int argc, char** argv) {
  const std::vector<std::string> words(argv + 1, argv + argc);
  return spine::spinectl::Run(
      words,
      [](const std::string& name) -> std::optional<std::string> {
        const char* value = std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe): one thread
        return value == nullptr ? std::nullopt : std::optional<std::string>(value);
      },
      std::cout, std::cerr);
}
