#include "libs/core/config_reader.h"

#include <unistd.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace spine {
namespace {

constexpr absl::string_view kRedacted = "<redacted>";

}  // namespace

ConfigReader::ConfigReader(const Environment& env) : env_(env) {
  dev_mode_ = Bool("SPINE_DEV_MODE", false);
}

std::optional<std::string> ConfigReader::Lookup(absl::string_view name, bool secret,
                                                absl::string_view shown_default) {
  std::optional<std::string> value = env_.Get(name);
  std::string shown = value ? *value : std::string(shown_default);
  if (secret && !shown.empty()) shown = std::string(kRedacted);
  summary_.emplace_back(std::string(name), std::move(shown));
  return value;
}

void ConfigReader::Problem(absl::string_view name, absl::string_view value, absl::string_view why) {
  problems_.push_back(absl::StrCat(name, "=", value, ": ", why));
}

void ConfigReader::AddProblem(std::string problem) { problems_.push_back(std::move(problem)); }

std::string ConfigReader::String(absl::string_view name, absl::string_view default_value) {
  std::optional<std::string> value = Lookup(name, false, default_value);
  return value ? *value : std::string(default_value);
}

int64_t ConfigReader::Int(absl::string_view name, int64_t default_value, int64_t min, int64_t max) {
  std::optional<std::string> value = Lookup(name, false, absl::StrCat(default_value));
  if (!value) return default_value;
  int64_t parsed = 0;
  if (!absl::SimpleAtoi(*value, &parsed)) {
    Problem(name, *value, "not an integer");
    return default_value;
  }
  if (parsed < min || parsed > max) {
    Problem(name, *value, absl::StrCat("must be between ", min, " and ", max));
    return default_value;
  }
  return parsed;
}

double ConfigReader::Double(absl::string_view name, double default_value, double min, double max) {
  std::optional<std::string> value = Lookup(name, false, absl::StrCat(default_value));
  if (!value) return default_value;
  double parsed = 0;
  if (!absl::SimpleAtod(*value, &parsed) || !std::isfinite(parsed)) {
    Problem(name, *value, "not a number");
    return default_value;
  }
  if (parsed < min || parsed > max) {
    Problem(name, *value, absl::StrCat("must be between ", min, " and ", max));
    return default_value;
  }
  return parsed;
}

bool ConfigReader::Bool(absl::string_view name, bool default_value) {
  std::optional<std::string> value = Lookup(name, false, default_value ? "1" : "0");
  if (!value) return default_value;
  const std::string lower = absl::AsciiStrToLower(*value);
  if (lower == "1" || lower == "true" || lower == "yes" || lower == "on") return true;
  if (lower == "0" || lower == "false" || lower == "no" || lower == "off") return false;
  Problem(name, *value, "expected 1/0, true/false, yes/no or on/off");
  return default_value;
}

std::string ConfigReader::OneOf(absl::string_view name, absl::string_view default_value,
                                std::initializer_list<absl::string_view> allowed) {
  std::string value = String(name, default_value);
  for (absl::string_view candidate : allowed) {
    if (value == candidate) return value;
  }
  Problem(name, value, absl::StrCat("must be one of: ", absl::StrJoin(allowed, ", ")));
  return std::string(default_value);
}

std::string ConfigReader::Address(absl::string_view name, absl::string_view default_value) {
  std::string value = String(name, default_value);
  const size_t colon = value.rfind(':');
  int port = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(absl::string_view(value).substr(colon + 1), &port) || port < 1 ||
      port > 65535) {
    Problem(name, value, "expected host:port with a port between 1 and 65535");
    return std::string(default_value);
  }
  return value;
}

std::string ConfigReader::SecretFile(absl::string_view name) {
  std::optional<std::string> value = Lookup(name, false, "");
  if (!value || value->empty()) {
    if (!dev_mode_) Problem(name, "", "required outside dev mode (SPINE_DEV_MODE=0)");
    return "";
  }
  if (access(value->c_str(), R_OK) != 0) {
    Problem(name, *value, "file does not exist or is not readable");
    return "";
  }
  return *value;
}

std::string ConfigReader::Secret(absl::string_view name, size_t min_length) {
  std::optional<std::string> value = Lookup(name, true, "");
  if (!value || value->empty()) {
    if (!dev_mode_) Problem(name, "", "required outside dev mode (SPINE_DEV_MODE=0)");
    return "";
  }
  if (value->size() < min_length) {
    Problem(name, kRedacted, absl::StrCat("must be at least ", min_length, " characters"));
  }
  if (absl::AsciiStrToLower(*value) == "changeme") {
    Problem(name, kRedacted, "is a well-known placeholder, set a real secret");
  }
  return *value;
}

std::string ConfigReader::SecretOrFile(absl::string_view name, size_t min_length) {
  const std::string file_variable = absl::StrCat(name, "_FILE");
  const std::string file = String(file_variable, "");
  if (file.empty()) return Secret(name, min_length);
  if (std::optional<std::string> direct = env_.Get(name); direct && !direct->empty()) {
    Problem(name, kRedacted,
            absl::StrCat("set either ", name, " or ", file_variable, ", not both"));
  }
  std::ifstream in(file);
  if (!in) {
    Problem(file_variable, file, "cannot read the file");
    return "";
  }
  std::stringstream contents;
  contents << in.rdbuf();
  std::string value(absl::StripTrailingAsciiWhitespace(contents.str()));
  if (value.size() < min_length) {
    Problem(file_variable, file,
            absl::StrCat("the secret must be at least ", min_length, " characters"));
  }
  if (absl::AsciiStrToLower(value) == "changeme") {
    Problem(file_variable, file, "holds a well-known placeholder, set a real secret");
  }
  return value;
}

absl::Status ConfigReader::Finish() const {
  if (problems_.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("invalid configuration: ", absl::StrJoin(problems_, "; ")));
}

}  // namespace spine
