// Where the stack scripts/test-compose started is: the variables that script exports, read by
// the tests of tests/compose (each one a failed REQUIRE when missing).
#pragma once

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"

namespace spine::testing {

inline std::string Env(const char* name) {
  const char* value = std::getenv(name);
  INFO(name << " must be set (scripts/test-compose sets it)");
  REQUIRE(value != nullptr);
  REQUIRE(*value != '\0');
  return value;
}

// The gateway's published port on 127.0.0.1 (SPINE_COMPOSE_PORT).
inline int Port() {
  int port = 0;
  REQUIRE(absl::SimpleAtoi(Env("SPINE_COMPOSE_PORT"), &port));
  return port;
}

// The admin password deploy/compose/up generated (SPINE_COMPOSE_ADMIN_PASSWORD_FILE).
inline std::string AdminPassword() {
  std::ifstream in(Env("SPINE_COMPOSE_ADMIN_PASSWORD_FILE"));
  std::stringstream text;
  text << in.rdbuf();
  std::string password(absl::StripTrailingAsciiWhitespace(text.str()));
  REQUIRE_FALSE(password.empty());
  return password;
}

}  // namespace spine::testing
