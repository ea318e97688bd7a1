// The command table and its parser: words to a command, options, usage errors, help, and the
// bash completion generated from the same table.
#include "tools/spinectl/cli.h"

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "libs/rpc/error_info.h"
#include "tools/spinectl/app.h"
#include "tools/spinectl/output.h"

namespace spine::spinectl {
namespace {

Registry Sample() {
  Registry registry({{"json", "", "as JSON"}, {"timeout", "DURATION", "deadline"}});
  registry.Add({{"thoughts", "create"},
                "TEXT",
                "Create a thought.",
                {{"tag", "TAG", "a tag"}, {"pin", "", "pin it"}},
                1,
                1,
                nullptr});
  registry.Add({{"thoughts", "list"},
                "",
                "List thoughts, a page\nat a time. Newest first.",
                {},
                0,
                0,
                nullptr});
  registry.Add({{"status"}, "", "Status.", {}, 0, 0, nullptr});
  registry.DescribeGroup({"thoughts"}, "Your thoughts");
  return registry;
}

TEST_CASE("words name a command; options and positionals are collected", "[spinectl][cli]") {
  const Registry registry = Sample();
  auto parsed = Parse(registry, {"--json", "thoughts", "create", "--tag", "a", "hello", "--tag=b",
                                 "--timeout=5s", "--pin"});
  REQUIRE(parsed.ok());
  REQUIRE(parsed->command != nullptr);
  CHECK(parsed->path == std::vector<std::string>{"thoughts", "create"});
  CHECK(parsed->args.positional() == std::vector<std::string>{"hello"});
  CHECK(parsed->args.All("tag") == std::vector<std::string>{"a", "b"});
  CHECK(parsed->args.Get("timeout") == "5s");
  CHECK(parsed->args.Has("json"));
  CHECK(parsed->args.Has("pin"));
  CHECK_FALSE(parsed->help);
}

TEST_CASE("`--` ends options, so a text may start with a dash", "[spinectl][cli]") {
  auto parsed = Parse(Sample(), {"thoughts", "create", "--", "--not-an-option"});
  REQUIRE(parsed.ok());
  CHECK(parsed->args.positional() == std::vector<std::string>{"--not-an-option"});
}

TEST_CASE("usage errors carry the USAGE reason and exit 2", "[spinectl][cli]") {
  const Registry registry = Sample();
  for (const std::vector<std::string>& words : std::vector<std::vector<std::string>>{
           {"nosuch"},
           {"thoughts", "nosuch"},
           {"thoughts", "create"},                     // TEXT missing
           {"thoughts", "create", "a", "b"},           // one too many
           {"thoughts", "create", "--nosuch", "a"},    // unknown option
           {"--tag", "x", "thoughts", "create", "a"},  // a command's option before the command
           {"thoughts", "create", "a", "--tag"},       // value missing
           {"thoughts", "create", "a", "--pin=yes"},   // a switch with a value
       }) {
    INFO(Catch::Detail::stringify(words));
    auto parsed = Parse(registry, words);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(ExitCode(parsed.status()) == 2);
  }
}

TEST_CASE("--help names the command or group it follows", "[spinectl][cli]") {
  const Registry registry = Sample();
  auto command = Parse(registry, {"thoughts", "create", "--help"});
  REQUIRE(command.ok());
  CHECK(command->help);
  const std::string help = registry.Help(command->path);
  CHECK(absl::StrContains(help, "usage: spinectl thoughts create [options] TEXT"));
  CHECK(absl::StrContains(help, "--tag TAG"));
  CHECK(absl::StrContains(help, "--timeout DURATION"));  // the global options too

  auto group = Parse(registry, {"thoughts", "-h"});
  REQUIRE(group.ok());
  CHECK(group->command == nullptr);
  const std::string group_help = registry.Help(group->path);
  CHECK(absl::StrContains(group_help, "Your thoughts"));
  CHECK(absl::StrContains(group_help, "create  Create a thought."));
  // A group lists each command's first sentence, even when it spans lines.
  CHECK(absl::StrContains(group_help, "list    List thoughts, a page at a time.\n"));
}

TEST_CASE("every real command has a summary and parses with --help", "[spinectl][cli]") {
  const Registry registry = BuildRegistry();
  std::vector<std::vector<std::string>> pending = {{}};
  int commands = 0;
  while (!pending.empty()) {
    const std::vector<std::string> path = pending.back();
    pending.pop_back();
    for (const std::string& child : registry.Children(path)) {
      std::vector<std::string> next = path;
      next.push_back(child);
      if (const CommandSpec* command = registry.Find(next)) {
        ++commands;
        INFO(command->summary);
        CHECK_FALSE(command->summary.empty());
        std::vector<std::string> words = next;
        words.push_back("--help");
        auto parsed = Parse(registry, words);
        REQUIRE(parsed.ok());
        CHECK(parsed->help);
        CHECK(absl::StrContains(registry.Help(next), "usage: spinectl"));
      } else {
        pending.push_back(next);
      }
    }
  }
  CHECK(commands >= 40);
}

// Runs the generated completion in bash for COMP_WORDS and returns COMPREPLY, space-joined.
std::string Complete(const Registry& registry, const std::string& words, int cword) {
  char script_path[] = "/tmp/spinectl_completion_XXXXXX";
  const int fd = mkstemp(script_path);
  REQUIRE(fd >= 0);
  {
    std::ofstream script(script_path);
    script << registry.BashCompletion() << "COMP_WORDS=(" << words << "); COMP_CWORD=" << cword
           << "; _spinectl; echo \"${COMPREPLY[*]}\"\n";
  }
  const std::string command = std::string("bash ") + script_path;
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string output;
  char buffer[512];
  while (fgets(buffer, sizeof buffer, pipe) != nullptr) output += buffer;
  CHECK(pclose(pipe) == 0);
  close(fd);
  std::remove(script_path);
  if (!output.empty() && output.back() == '\n') output.pop_back();
  return output;
}

TEST_CASE("the bash completion completes commands and options from the table", "[spinectl][cli]") {
  const Registry registry = Sample();
  CHECK(Complete(registry, "spinectl th", 1) == "thoughts");
  CHECK(Complete(registry, "spinectl thoughts ''", 2) == "create list --json --timeout --help");
  CHECK(Complete(registry, "spinectl --json thoughts cr", 3) == "create");
  CHECK(Complete(registry, "spinectl thoughts create --t", 3) == "--tag --timeout");
  CHECK(Complete(registry, "spinectl nosuch ''", 2) == "status thoughts --json --timeout --help");
}

}  // namespace
}  // namespace spine::spinectl
