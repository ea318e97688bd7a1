// The command table of spinectl and its argument parser: every command is declared once, with
// its options, and `--help` texts and the bash completion script are generated from that table.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace spine::spinectl {

class Context;

struct OptionSpec {
  // Without the leading "--".
  std::string name;
  // Empty for a switch; else what the value is, for the help ("N", "FILE").
  std::string value_name;
  std::string help;
};

// The parsed words of one invocation.
class Args {
 public:
  const std::vector<std::string>& positional() const { return positional_; }
  bool Has(const std::string& name) const { return options_.count(name) > 0; }
  // The last value given for `name`.
  std::optional<std::string> Get(const std::string& name) const;
  // Every value given for `name`, in order (an option may repeat).
  std::vector<std::string> All(const std::string& name) const;

  void AddPositional(std::string word) { positional_.push_back(std::move(word)); }
  void AddOption(const std::string& name, std::string value) {
    options_[name].push_back(std::move(value));
  }

 private:
  std::vector<std::string> positional_;
  std::map<std::string, std::vector<std::string>> options_;
};

using Handler = std::function<absl::Status(Context&, const Args&)>;

struct CommandSpec {
  // E.g. {"thoughts", "create"}.
  std::vector<std::string> path;
  // Positional arguments for the usage line, e.g. "TEXT".
  std::string usage;
  std::string summary;
  std::vector<OptionSpec> options;
  size_t min_args = 0;
  size_t max_args = 0;
  Handler handler;
};

class Registry {
 public:
  // Options every command accepts (addresses, output format, ...).
  explicit Registry(std::vector<OptionSpec> global_options);

  void Add(CommandSpec command);
  // One-line summary of a group ("thoughts"), shown in its parent's help.
  void DescribeGroup(const std::vector<std::string>& path, std::string summary);

  const CommandSpec* Find(const std::vector<std::string>& path) const;
  // Whether `path` names a group (a prefix of some command's path); the empty path is the root.
  bool IsGroup(const std::vector<std::string>& path) const;
  // Names one level below the group `path`, sorted.
  std::vector<std::string> Children(const std::vector<std::string>& path) const;
  const std::vector<OptionSpec>& global_options() const { return global_options_; }

  // The help of a command or group.
  std::string Help(const std::vector<std::string>& path) const;
  // A bash script defining completion for every command and option.
  std::string BashCompletion() const;

 private:
  std::vector<OptionSpec> global_options_;
  std::vector<CommandSpec> commands_;
  std::map<std::vector<std::string>, std::string> group_summaries_;
};

struct Invocation {
  // The command or group the words named (a group when `command` is null).
  std::vector<std::string> path;
  const CommandSpec* command = nullptr;
  Args args;
  bool help = false;
};

// Parses argv[1..]. Options are `--name value`, `--name=value` or a switch `--name`; global
// options may come anywhere, a command's own after the command's words; `--` ends options.
// A usage error is INVALID_ARGUMENT with the reason USAGE.
absl::StatusOr<Invocation> Parse(const Registry& registry, const std::vector<std::string>& words);

// INVALID_ARGUMENT with reason USAGE (exit code 2).
absl::Status UsageError(const std::string& message);

}  // namespace spine::spinectl
