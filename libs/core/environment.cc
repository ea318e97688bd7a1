#include "libs/core/environment.h"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "libs/core/status.h"

extern char**
    environ;  // NOLINT(readability-redundant-declaration): POSIX global, no header declares it

namespace spine {
namespace {

bool IsValidName(absl::string_view name) {
  if (name.empty() || absl::ascii_isdigit(static_cast<unsigned char>(name.front()))) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<Environment::Vars> ParseDotenv(absl::string_view text) {
  Environment::Vars vars;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    absl::ConsumePrefix(&line, "export ");
    const size_t eq = line.find('=');
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(".env line ", line_no, ": expected KEY=VALUE"));
    }
    const absl::string_view name = absl::StripAsciiWhitespace(line.substr(0, eq));
    absl::string_view value = absl::StripAsciiWhitespace(line.substr(eq + 1));
    if (!IsValidName(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat(".env line ", line_no, ": '", name, "' is not a variable name"));
    }
    if (!value.empty() && (value.front() == '"' || value.front() == '\'')) {
      // A quoted value ends at its closing quote; only whitespace or a comment may follow.
      const size_t close = value.find(value.front(), 1);
      if (close == absl::string_view::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat(".env line ", line_no, ": unterminated quote"));
      }
      const absl::string_view rest = absl::StripAsciiWhitespace(value.substr(close + 1));
      if (!rest.empty() && rest.front() != '#') {
        return absl::InvalidArgumentError(
            absl::StrCat(".env line ", line_no, ": unexpected text after the closing quote"));
      }
      value = value.substr(1, close - 1);
    } else if (!value.empty() && value.front() == '#') {
      value = "";  // `KEY= # comment`: an empty value
    } else if (const size_t hash = value.find(" #"); hash != absl::string_view::npos) {
      value = absl::StripTrailingAsciiWhitespace(value.substr(0, hash));
    }
    vars[std::string(name)] = std::string(value);
  }
  return vars;
}

absl::StatusOr<Environment> Environment::FromParts(Vars process_env,
                                                   absl::string_view dotenv_text) {
  SPINE_ASSIGN_OR_RETURN(Vars dotenv, ParseDotenv(dotenv_text));
  return Environment(std::move(process_env), std::move(dotenv));
}

absl::StatusOr<Environment> Environment::FromProcess() {
  Vars process_env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const absl::string_view kv(*entry);
    const size_t eq = kv.find('=');
    if (eq == absl::string_view::npos) continue;
    process_env.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  std::string path = ".env";
  bool required = false;
  if (auto it = process_env.find("SPINE_ENV_FILE");
      it != process_env.end() && !it->second.empty()) {
    path = it->second;
    required = true;
  }
  std::ifstream in(path);
  if (!in) {
    if (required) {
      return absl::InvalidArgumentError(
          absl::StrCat("SPINE_ENV_FILE=", path, ": cannot open the file"));
    }
    return FromParts(std::move(process_env), "");
  }
  std::stringstream contents;
  contents << in.rdbuf();
  auto parsed = FromParts(std::move(process_env), contents.str());
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", parsed.status().message()));
  }
  return parsed;
}

std::optional<std::string> Environment::Get(absl::string_view name) const {
  if (auto it = env_.find(name); it != env_.end()) return it->second;
  if (auto it = dotenv_.find(name); it != dotenv_.end()) return it->second;
  return std::nullopt;
}

}  // namespace spine
