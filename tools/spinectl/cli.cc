#include "tools/spinectl/cli.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libs/rpc/error_info.h"

namespace spine::spinectl {
namespace {

bool IsPrefix(const std::vector<std::string>& prefix, const std::vector<std::string>& path) {
  return prefix.size() <= path.size() && std::equal(prefix.begin(), prefix.end(), path.begin());
}

const OptionSpec* FindOption(const std::vector<OptionSpec>& options, const std::string& name) {
  for (const OptionSpec& option : options) {
    if (option.name == name) return &option;
  }
  return nullptr;
}

void AppendOptions(std::string& out, const std::vector<OptionSpec>& options) {
  size_t width = 0;
  std::vector<std::string> heads;
  for (const OptionSpec& option : options) {
    heads.push_back(
        absl::StrCat("--", option.name, option.value_name.empty() ? "" : " " + option.value_name));
    width = std::max(width, heads.back().size());
  }
  for (size_t i = 0; i < options.size(); ++i) {
    absl::StrAppend(&out, "  ", heads[i], std::string(width - heads[i].size() + 2, ' '),
                    options[i].help, "\n");
  }
}

// The first sentence of a summary, for the one-line listing of a group.
std::string FirstSentence(const std::string& summary) {
  for (size_t dot = summary.find('.'); dot != std::string::npos; dot = summary.find('.', dot + 1)) {
    if (dot + 1 == summary.size() || summary[dot + 1] == ' ' || summary[dot + 1] == '\n') {
      std::string sentence = summary.substr(0, dot + 1);
      std::replace(sentence.begin(), sentence.end(), '\n', ' ');
      return sentence;
    }
  }
  return summary.substr(0, summary.find('\n'));
}

// Single-quoted for bash.
std::string Quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

}  // namespace

absl::Status UsageError(const std::string& message) {
  return rpc::WithErrorInfo(absl::InvalidArgumentError(message), "USAGE");
}

std::optional<std::string> Args::Get(const std::string& name) const {
  auto it = options_.find(name);
  if (it == options_.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

std::vector<std::string> Args::All(const std::string& name) const {
  auto it = options_.find(name);
  return it == options_.end() ? std::vector<std::string>{} : it->second;
}

Registry::Registry(std::vector<OptionSpec> global_options)
    : global_options_(std::move(global_options)) {}

void Registry::Add(CommandSpec command) { commands_.push_back(std::move(command)); }

void Registry::DescribeGroup(const std::vector<std::string>& path, std::string summary) {
  group_summaries_[path] = std::move(summary);
}

const CommandSpec* Registry::Find(const std::vector<std::string>& path) const {
  for (const CommandSpec& command : commands_) {
    if (command.path == path) return &command;
  }
  return nullptr;
}

bool Registry::IsGroup(const std::vector<std::string>& path) const {
  return std::any_of(commands_.begin(), commands_.end(), [&](const CommandSpec& command) {
    return command.path.size() > path.size() && IsPrefix(path, command.path);
  });
}

std::vector<std::string> Registry::Children(const std::vector<std::string>& path) const {
  std::set<std::string> names;
  for (const CommandSpec& command : commands_) {
    if (command.path.size() > path.size() && IsPrefix(path, command.path)) {
      names.insert(command.path[path.size()]);
    }
  }
  return {names.begin(), names.end()};
}

std::string Registry::Help(const std::vector<std::string>& path) const {
  std::string out;
  const std::string name = absl::StrJoin(path, " ");
  if (const CommandSpec* command = Find(path)) {
    absl::StrAppend(&out, "usage: spinectl ", name, command->options.empty() ? "" : " [options]",
                    command->usage.empty() ? "" : " " + command->usage, "\n\n", command->summary,
                    "\n");
    if (!command->options.empty()) {
      absl::StrAppend(&out, "\noptions:\n");
      AppendOptions(out, command->options);
    }
  } else {
    absl::StrAppend(&out, "usage: spinectl [options] ", name.empty() ? "" : name + " ",
                    "COMMAND ...\n");
    auto summary = group_summaries_.find(path);
    if (summary != group_summaries_.end()) absl::StrAppend(&out, "\n", summary->second, "\n");
    absl::StrAppend(&out, "\ncommands:\n");
    std::vector<std::pair<std::string, std::string>> rows;
    size_t width = 0;
    for (const std::string& child : Children(path)) {
      std::vector<std::string> child_path = path;
      child_path.push_back(child);
      std::string text;
      if (const CommandSpec* command = Find(child_path)) {
        text = FirstSentence(command->summary);
      } else if (auto it = group_summaries_.find(child_path); it != group_summaries_.end()) {
        text = it->second;
      }
      width = std::max(width, child.size());
      rows.emplace_back(child, text);
    }
    for (const auto& [child, text] : rows) {
      absl::StrAppend(&out, "  ", child, std::string(width - child.size() + 2, ' '), text, "\n");
    }
    absl::StrAppend(&out, "\nRun `spinectl ", name.empty() ? "" : name + " ",
                    "COMMAND --help` for a command's options.\n");
  }
  absl::StrAppend(&out, "\nglobal options:\n");
  AppendOptions(out, global_options_);
  return out;
}

std::string Registry::BashCompletion() const {
  // Every node (the root, each group, each command) with the words that may follow it.
  std::map<std::vector<std::string>, std::vector<std::string>> nodes;
  std::vector<std::string> globals;
  for (const OptionSpec& option : global_options_) globals.push_back("--" + option.name);
  globals.push_back("--help");
  for (const CommandSpec& command : commands_) {
    for (size_t depth = 0; depth < command.path.size(); ++depth) {
      const std::vector<std::string> group(command.path.begin(), command.path.begin() + depth);
      nodes[group] = Children(group);
    }
    std::vector<std::string>& words = nodes[command.path];
    for (const OptionSpec& option : command.options) words.push_back("--" + option.name);
  }
  std::string out =
      "# bash completion for spinectl (generated by `spinectl completion bash`).\n"
      "# Load it with: source <(spinectl completion bash)\n"
      "_spinectl_words() {\n"
      "  case \"$1\" in\n";
  for (auto& [path, words] : nodes) {
    std::vector<std::string> all = words;
    all.insert(all.end(), globals.begin(), globals.end());
    absl::StrAppend(&out, "    ", Quote(absl::StrJoin(path, " ")), ") echo ",
                    Quote(absl::StrJoin(all, " ")), " ;;\n");
  }
  absl::StrAppend(&out,
                  "    *) return 1 ;;\n"
                  "  esac\n"
                  "}\n"
                  "_spinectl() {\n"
                  "  local cur=\"${COMP_WORDS[COMP_CWORD]}\" path=\"\" next i\n"
                  "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
                  "    case \"${COMP_WORDS[i]}\" in -*) continue ;; esac\n"
                  "    next=\"${path:+$path }${COMP_WORDS[i]}\"\n"
                  "    if _spinectl_words \"$next\" >/dev/null; then path=\"$next\"; fi\n"
                  "  done\n"
                  "  mapfile -t COMPREPLY < <(compgen -W \"$(_spinectl_words \"$path\")\" -- "
                  "\"$cur\")\n"
                  "}\n"
                  "complete -o default -F _spinectl spinectl\n");
  return out;
}

absl::StatusOr<Invocation> Parse(const Registry& registry, const std::vector<std::string>& words) {
  Invocation invocation;
  bool options_ended = false;
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& word = words[i];
    const bool is_option = !options_ended && absl::StartsWith(word, "-") && word != "-";
    if (!is_option) {
      if (invocation.command == nullptr) {
        std::vector<std::string> next = invocation.path;
        next.push_back(word);
        if (const CommandSpec* command = registry.Find(next)) {
          invocation.path = std::move(next);
          invocation.command = command;
          continue;
        }
        if (registry.IsGroup(next)) {
          invocation.path = std::move(next);
          continue;
        }
        if (invocation.help) continue;  // `spinectl nosuch --help`: the help of what matched
        return UsageError(invocation.path.empty()
                              ? absl::StrCat("unknown command \"", word, "\"")
                              : absl::StrCat("unknown command \"", word, "\" in \"",
                                             absl::StrJoin(invocation.path, " "), "\""));
      }
      invocation.args.AddPositional(word);
      continue;
    }
    if (word == "--") {
      options_ended = true;
      continue;
    }
    if (word == "--help" || word == "-h") {
      invocation.help = true;
      continue;
    }
    if (!absl::StartsWith(word, "--")) return UsageError(absl::StrCat("unknown option ", word));
    std::string name = word.substr(2);
    std::optional<std::string> value;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    }
    const OptionSpec* spec = FindOption(registry.global_options(), name);
    if (spec == nullptr && invocation.command != nullptr) {
      spec = FindOption(invocation.command->options, name);
    }
    if (spec == nullptr) {
      if (invocation.help) continue;
      return UsageError(
          absl::StrCat("unknown option --", name,
                       invocation.command == nullptr
                           ? ""
                           : " for \"" + absl::StrJoin(invocation.path, " ") + "\" (see --help)"));
    }
    if (spec->value_name.empty()) {
      if (value) return UsageError(absl::StrCat("--", name, " takes no value"));
      invocation.args.AddOption(name, "");
      continue;
    }
    if (!value) {
      if (i + 1 >= words.size()) {
        return UsageError(absl::StrCat("--", name, " needs a value (", spec->value_name, ")"));
      }
      value = words[++i];
    }
    invocation.args.AddOption(name, *std::move(value));
  }
  if (invocation.help || invocation.command == nullptr) return invocation;
  const size_t count = invocation.args.positional().size();
  const CommandSpec& command = *invocation.command;
  if (count < command.min_args || count > command.max_args) {
    return UsageError(absl::StrCat("usage: spinectl ", absl::StrJoin(command.path, " "),
                                   command.options.empty() ? "" : " [options]",
                                   command.usage.empty() ? "" : " " + command.usage,
                                   " (see --help)"));
  }
  return invocation;
}

}  // namespace spine::spinectl
