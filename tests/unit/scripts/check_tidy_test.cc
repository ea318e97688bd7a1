// Tests for scripts/check-tidy's cache of clean results, on a planted git tree with a copy of the
// script and a stand-in clang-tidy that logs each file it analyses and reports a finding for any
// file containing the word BAD. The preprocessing is the real compiler's.

#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/support/shell.h"

namespace {

namespace fs = std::filesystem;

using spine::testing::RunShell;
using spine::testing::ShellQuote;
using RunResult = spine::testing::ShellResult;

void Write(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << content;
  REQUIRE(out.good());
}

std::string Read(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

// A temp dir holding the cache, the stand-in clang-tidy with its log, and one or more checkouts.
class TidyWorld {
 public:
  TidyWorld() {
    std::string tmpl = "/tmp/spine-tidy-test-XXXXXX";
    const char* made = mkdtemp(tmpl.data());
    REQUIRE(made != nullptr);
    root_ = made;
    Write(root_ / "fake-clang-tidy",
          "#!/bin/sh\n"
          "if [ \"$1\" = --version ]; then echo \"fake clang-tidy $(cat " +
              ShellQuote((root_ / "version").string()) +
              ")\"; exit 0; fi\n"
              "for file; do :; done\n"  // the last argument
              "echo \"$file\" >>" +
              ShellQuote(log().string()) +
              "\n"
              "if grep -q BAD \"$file\"; then echo \"$file:1:1: error: BAD [fake-check]\"; exit 1; "
              "fi\n");
    fs::permissions(root_ / "fake-clang-tidy", fs::perms::owner_all);
    Write(root_ / "version", "1\n");
    Write(log(), "");
  }
  TidyWorld(const TidyWorld&) = delete;
  TidyWorld& operator=(const TidyWorld&) = delete;
  ~TidyWorld() {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  const fs::path& root() const { return root_; }
  fs::path log() const { return root_ / "analysed.log"; }
  // How many files the stand-in has analysed so far.
  int Analysed() const {
    const std::string text = Read(log());
    int lines = 0;
    for (const char c : text) lines += c == '\n' ? 1 : 0;
    return lines;
  }

  // A git checkout at root()/name with the script, .clang-tidy, libs/a.cc (including libs/a.h)
  // and build/compile_commands.json; `defines` goes into a.cc's compile command.
  fs::path Checkout(const std::string& name, const std::string& defines = "") const {
    fs::path top = root_ / name;
    fs::create_directories(top / "scripts");
    fs::copy_file(fs::path(SPINE_SOURCE_DIR) / "scripts/check-tidy", top / "scripts/check-tidy");
    REQUIRE(RunShell("git init -q " + ShellQuote(top.string())).exit_code == 0);
    Write(top / ".clang-tidy", "Checks: '-*,bugprone-*'\n");
    Write(top / "libs/a.h", "#pragma once\ninline int Two() { return 2; }\n");
    Write(top / "libs/a.cc", "#include \"libs/a.h\"\nint Four() { return Two() * 2; }\n");
    WriteCommand(top, defines);
    return top;
  }

  static void WriteCommand(const fs::path& top, const std::string& defines) {
    const std::string t = top.string();
    Write(top / "build/compile_commands.json",
          "[\n{\n  \"directory\": \"" + t + "/build\",\n  \"command\": \"/usr/bin/c++ " + defines +
              " -I" + t + " -std=c++20 -o libs/a.cc.o -c " + t + "/libs/a.cc\",\n  \"file\": \"" +
              t + "/libs/a.cc\"\n}\n]\n");
  }

  // Runs the checkout's check-tidy with the stand-in and the shared cache (or `cache`).
  RunResult Check(const fs::path& top, const std::string& cache = "") const {
    return RunShell(
        "CLANG_TIDY=" + ShellQuote((root_ / "fake-clang-tidy").string()) +
        " SPINE_TIDY_CACHE=" + ShellQuote(cache.empty() ? (root_ / "cache").string() : cache) +
        " " + ShellQuote((top / "scripts/check-tidy").string()) + " " +
        ShellQuote((top / "build").string()));
  }

 private:
  fs::path root_;
};

}  // namespace

TEST_CASE("check-tidy analyses a clean file once, then takes it from the cache") {
  TidyWorld world;
  const fs::path top = world.Checkout("one");
  RunResult first = world.Check(top);
  INFO(first.output);
  REQUIRE(first.exit_code == 0);
  REQUIRE(world.Analysed() == 1);
  RunResult second = world.Check(top);
  INFO(second.output);
  REQUIRE(second.exit_code == 0);
  REQUIRE(world.Analysed() == 1);
  REQUIRE(second.output.find("1 file(s) clean (1 unchanged") != std::string::npos);
}

TEST_CASE("check-tidy analyses again whatever changed the file's analysis") {
  TidyWorld world;
  const fs::path top = world.Checkout("one");
  REQUIRE(world.Check(top).exit_code == 0);
  int analysed = world.Analysed();
  REQUIRE(analysed == 1);
  // Each change must bring a fresh analysis; the run after it is served from the cache again.
  auto expect_reanalysed = [&](const char* what) {
    INFO(what);
    REQUIRE(world.Check(top).exit_code == 0);
    REQUIRE(world.Analysed() == ++analysed);
    REQUIRE(world.Check(top).exit_code == 0);
    REQUIRE(world.Analysed() == analysed);
  };
  Write(top / "libs/a.cc", Read(top / "libs/a.cc") + "int Five() { return 5; }\n");
  expect_reanalysed("the source");
  Write(top / "libs/a.cc", Read(top / "libs/a.cc") + "// NOLINT comments count\n");
  expect_reanalysed("a comment in the source");
  Write(top / "libs/a.h", Read(top / "libs/a.h") + "inline int Three() { return 3; }\n");
  expect_reanalysed("a header it includes");
  Write(top / ".clang-tidy", "Checks: '-*,performance-*'\n");
  expect_reanalysed(".clang-tidy");
  TidyWorld::WriteCommand(top, "-DSPINE_SOMETHING=1");
  expect_reanalysed("the compile command");
  Write(world.root() / "version", "2\n");
  expect_reanalysed("the clang-tidy version");
}

TEST_CASE("check-tidy never caches a file with findings") {
  TidyWorld world;
  const fs::path top = world.Checkout("one");
  Write(top / "libs/a.cc", Read(top / "libs/a.cc") + "// BAD\n");
  for (int run = 1; run <= 2; ++run) {
    const RunResult r = world.Check(top);
    INFO(r.output);
    REQUIRE(r.exit_code == 1);
    REQUIRE(r.output.find("BAD [fake-check]") != std::string::npos);
    REQUIRE(world.Analysed() == run);
  }
}

TEST_CASE("check-tidy analyses a file it cannot preprocess, and does not cache it") {
  TidyWorld world;
  const fs::path top = world.Checkout("one");
  Write(top / "libs/a.cc", "#include \"libs/missing.h\"\n");
  REQUIRE(world.Check(top).exit_code == 0);  // the stand-in does not compile anything
  REQUIRE(world.Check(top).exit_code == 0);
  REQUIRE(world.Analysed() == 2);
}

TEST_CASE("check-tidy's cache serves a clone of the same tree in another folder") {
  TidyWorld world;
  REQUIRE(world.Check(world.Checkout("first")).exit_code == 0);
  REQUIRE(world.Analysed() == 1);
  const RunResult r = world.Check(world.Checkout("second-clone"));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  REQUIRE(world.Analysed() == 1);
}

TEST_CASE("check-tidy with SPINE_TIDY_CACHE=off analyses every time") {
  TidyWorld world;
  const fs::path top = world.Checkout("one");
  REQUIRE(world.Check(top, "off").exit_code == 0);
  REQUIRE(world.Check(top, "off").exit_code == 0);
  REQUIRE(world.Analysed() == 2);
}

TEST_CASE("check-tidy's cache serves a sanitizer build of the same tree, analysed without them") {
  TidyWorld world;
  const fs::path top = world.Checkout("one");
  REQUIRE(world.Check(top).exit_code == 0);
  REQUIRE(world.Analysed() == 1);
  // CI's asan build: the same command plus the sanitizer flags of CMakePresets.json.
  TidyWorld::WriteCommand(top,
                          "-fsanitize=address,undefined -fno-omit-frame-pointer "
                          "-fno-sanitize-recover=undefined");
  const RunResult r = world.Check(top);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  REQUIRE(world.Analysed() == 1);
  // Any other change to the command is still a change.
  TidyWorld::WriteCommand(top, "-fsanitize=address -DSPINE_SOMETHING=1");
  REQUIRE(world.Check(top).exit_code == 0);
  REQUIRE(world.Analysed() == 2);
}
