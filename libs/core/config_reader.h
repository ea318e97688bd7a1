// ConfigReader: typed, validated reads of SPINE_* settings with defaults.
//
// Each read returns a usable value (the default when the setting is bad) and records a problem
// that names the variable and the bad value; Finish() reports them all at once, so an operator
// fixes every mistake in one go. Not thread-safe: a service fills its config once in main.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "libs/core/environment.h"

namespace spine {

class ConfigReader {
 public:
  explicit ConfigReader(const Environment& env);

  // SPINE_DEV_MODE: relaxes the secret requirements below. Read once at construction.
  bool dev_mode() const { return dev_mode_; }

  std::string String(absl::string_view name, absl::string_view default_value);
  int64_t Int(absl::string_view name, int64_t default_value, int64_t min, int64_t max);
  double Double(absl::string_view name, double default_value, double min, double max);
  bool Bool(absl::string_view name, bool default_value);
  std::string OneOf(absl::string_view name, absl::string_view default_value,
                    std::initializer_list<absl::string_view> allowed);
  // A `host:port` listen or dial address; the port must be 1..65535.
  std::string Address(absl::string_view name, absl::string_view default_value);
  // A path to an existing, readable file. Outside dev mode the setting is required; in dev
  // mode an empty value is allowed and returned as "".
  std::string SecretFile(absl::string_view name);
  // A secret value (never logged). Outside dev mode it is required and at least
  // `min_length` characters; in dev mode it may be empty.
  std::string Secret(absl::string_view name, size_t min_length);
  // The same secret, but `<name>_FILE` may name a file holding it instead (trailing whitespace
  // dropped) — the form container secrets and `ps`-safe setups use. Setting both is a problem.
  std::string SecretOrFile(absl::string_view name, size_t min_length);

  // Records a problem found by cross-field validation in a service's own config.
  void AddProblem(std::string problem);
  // OK, or INVALID_ARGUMENT listing every problem ("SPINE_X=value: why; ...").
  absl::Status Finish() const;
  // Every setting read so far as (name, value), secrets shown as "<redacted>", for the start log.
  const std::vector<std::pair<std::string, std::string>>& Summary() const { return summary_; }

 private:
  std::optional<std::string> Lookup(absl::string_view name, bool secret,
                                    absl::string_view shown_default);
  void Problem(absl::string_view name, absl::string_view value, absl::string_view why);

  const Environment& env_;
  bool dev_mode_ = false;
  std::vector<std::string> problems_;
  std::vector<std::pair<std::string, std::string>> summary_;
};

}  // namespace spine
