// Environment: where settings come from — process environment over an optional `.env` file.
//
// Immutable after construction; safe to read from any thread.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace spine {

class Environment {
 public:
  using Vars = std::map<std::string, std::string, std::less<>>;

  // Reads `environ` and the .env file named by SPINE_ENV_FILE (default `./.env`; a missing
  // default file is fine, a missing named file or a malformed one is an error).
  static absl::StatusOr<Environment> FromProcess();
  // For tests: explicit variables and .env contents (already-read text).
  static absl::StatusOr<Environment> FromParts(Vars process_env, absl::string_view dotenv_text);

  // The value of `name`: the process environment wins over the .env file.
  std::optional<std::string> Get(absl::string_view name) const;

 private:
  Environment(Vars process_env, Vars dotenv)
      : env_(std::move(process_env)), dotenv_(std::move(dotenv)) {}
  Vars env_;
  Vars dotenv_;
};

// Parses .env text: `KEY=VALUE` lines, `#` comments, blank lines, an optional `export ` prefix,
// and values in single or double quotes. An error names the line.
absl::StatusOr<Environment::Vars> ParseDotenv(absl::string_view text);

}  // namespace spine
