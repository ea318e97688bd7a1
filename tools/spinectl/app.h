// spinectl's entry point, apart from main() so it can be called with any words and streams.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "tools/spinectl/cli.h"
#include "tools/spinectl/config.h"

namespace spine::spinectl {

// Every command, with the global options.
Registry BuildRegistry();

// Runs one invocation (`words` without the program name) and returns the exit code.
int Run(const std::vector<std::string>& words, const Getenv& getenv, std::ostream& out,
        std::ostream& err);

}  // namespace spine::spinectl
