#include "libs/core/config_reader.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "libs/core/common_config.h"
#include "libs/core/environment.h"

namespace spine {
namespace {

Environment MakeEnv(Environment::Vars vars) {
  absl::StatusOr<Environment> env = Environment::FromParts(std::move(vars), "");
  INFO(env.status().ToString());
  REQUIRE(env.ok());
  return *std::move(env);
}

// The INVALID_ARGUMENT message of a reader that found problems.
std::string Problems(const ConfigReader& reader) {
  const absl::Status status = reader.Finish();
  REQUIRE_FALSE(status.ok());
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  return std::string(status.message());
}

// The value the summary shows for `name`, or "<absent>".
std::string Shown(const ConfigReader& reader, absl::string_view name) {
  for (const auto& [key, value] : reader.Summary()) {
    if (key == name) return value;
  }
  return "<absent>";
}

constexpr char kRequiredOutsideDev[] = "required outside dev mode";

TEST_CASE("config reads return their defaults when nothing is set") {
  const Environment env = MakeEnv({});
  ConfigReader reader(env);
  CHECK_FALSE(reader.dev_mode());
  CHECK(reader.String("SPINE_S", "dflt") == "dflt");
  CHECK(reader.Int("SPINE_I", 42, 0, 100) == 42);
  CHECK(reader.Double("SPINE_D", 0.25, 0, 1) == 0.25);
  CHECK(reader.Bool("SPINE_B", true));
  CHECK_FALSE(reader.Bool("SPINE_B2", false));
  CHECK(reader.OneOf("SPINE_O", "info", {"debug", "info"}) == "info");
  CHECK(reader.Address("SPINE_A", "127.0.0.1:8080") == "127.0.0.1:8080");
  CHECK(reader.Finish().ok());
  CHECK(Shown(reader, "SPINE_S") == "dflt");
  CHECK(Shown(reader, "SPINE_I") == "42");
  CHECK(Shown(reader, "SPINE_A") == "127.0.0.1:8080");
}

TEST_CASE("config reads return the values that are set") {
  const Environment env = MakeEnv({{"SPINE_S", "text"},
                                   {"SPINE_I", "-7"},
                                   {"SPINE_D", "0.75"},
                                   {"SPINE_B", "yes"},
                                   {"SPINE_O", "debug"},
                                   {"SPINE_A", "localhost:8080"}});
  ConfigReader reader(env);
  CHECK(reader.String("SPINE_S", "dflt") == "text");
  CHECK(reader.Int("SPINE_I", 42, -10, 100) == -7);
  CHECK(reader.Double("SPINE_D", 0.25, 0, 1) == 0.75);
  CHECK(reader.Bool("SPINE_B", false));
  CHECK(reader.OneOf("SPINE_O", "info", {"debug", "info"}) == "debug");
  CHECK(reader.Address("SPINE_A", "127.0.0.1:1") == "localhost:8080");
  CHECK(reader.Finish().ok());
  CHECK(Shown(reader, "SPINE_S") == "text");
  CHECK(Shown(reader, "SPINE_I") == "-7");
}

TEST_CASE("integer settings accept the bounds of their range") {
  const Environment env = MakeEnv({{"SPINE_LO", "10"}, {"SPINE_HI", "20"}});
  ConfigReader reader(env);
  CHECK(reader.Int("SPINE_LO", 15, 10, 20) == 10);
  CHECK(reader.Int("SPINE_HI", 15, 10, 20) == 20);
  CHECK(reader.Finish().ok());
}

TEST_CASE("a bad integer setting is reported with its name and value") {
  const std::string bad =
      GENERATE("9", "21", "-1", "abc", "12abc", "1.5", "", "99999999999999999999");
  const Environment env = MakeEnv({{"SPINE_COUNT", bad}});
  ConfigReader reader(env);
  CHECK(reader.Int("SPINE_COUNT", 15, 10, 20) == 15);  // the default stands in
  const std::string problems = Problems(reader);
  INFO(problems);
  CHECK_THAT(problems, Catch::Contains("SPINE_COUNT=" + bad + ":"));
}

TEST_CASE("an out-of-range integer setting names the allowed range") {
  const Environment env = MakeEnv({{"SPINE_COUNT", "70000"}});
  ConfigReader reader(env);
  reader.Int("SPINE_COUNT", 5, 1, 65535);
  const std::string problems = Problems(reader);
  CHECK_THAT(problems, Catch::Contains("SPINE_COUNT=70000"));
  CHECK_THAT(problems, Catch::Contains("between 1 and 65535"));
}

TEST_CASE("a bad floating-point setting is reported with its name and value") {
  const std::string bad = GENERATE("1.5", "-0.1", "abc", "0.5x", "nan", "inf", "");
  const Environment env = MakeEnv({{"SPINE_RATIO", bad}});
  ConfigReader reader(env);
  CHECK(reader.Double("SPINE_RATIO", 0.5, 0.0, 1.0) == 0.5);
  const std::string problems = Problems(reader);
  INFO(problems);
  CHECK_THAT(problems, Catch::Contains("SPINE_RATIO=" + bad + ":"));
}

TEST_CASE("boolean settings accept 1/0, true/false, yes/no and on/off in any case") {
  const auto [text, expected] = GENERATE(table<const char*, bool>({
      {"1", true},
      {"true", true},
      {"TRUE", true},
      {"True", true},
      {"yes", true},
      {"YES", true},
      {"on", true},
      {"On", true},
      {"0", false},
      {"false", false},
      {"FALSE", false},
      {"no", false},
      {"No", false},
      {"off", false},
      {"OFF", false},
  }));
  const Environment env = MakeEnv({{"SPINE_FLAG", text}});
  ConfigReader reader(env);
  INFO(text);
  CHECK(reader.Bool("SPINE_FLAG", !expected) == expected);
  CHECK(reader.Finish().ok());
}

TEST_CASE("a boolean setting with another spelling is rejected and the default kept") {
  const std::string bad = GENERATE("2", "y", "n", "enabled", "truee", "", " 1");
  const bool default_value = GENERATE(true, false);
  const Environment env = MakeEnv({{"SPINE_FLAG", bad}});
  ConfigReader reader(env);
  CHECK(reader.Bool("SPINE_FLAG", default_value) == default_value);
  const std::string problems = Problems(reader);
  INFO(problems);
  CHECK_THAT(problems, Catch::Contains("SPINE_FLAG=" + bad + ":"));
}

TEST_CASE("a one-of setting outside its choices is rejected, listing the choices") {
  const Environment env = MakeEnv({{"SPINE_LOG_LEVEL", "verbose"}});
  ConfigReader reader(env);
  CHECK(reader.OneOf("SPINE_LOG_LEVEL", "info", {"debug", "info", "warn"}) == "info");
  const std::string problems = Problems(reader);
  CHECK_THAT(problems, Catch::Contains("SPINE_LOG_LEVEL=verbose"));
  CHECK_THAT(problems, Catch::Contains("debug, info, warn"));
}

TEST_CASE("a one-of setting is case-sensitive") {
  const Environment env = MakeEnv({{"SPINE_LOG_LEVEL", "INFO"}});
  ConfigReader reader(env);
  CHECK(reader.OneOf("SPINE_LOG_LEVEL", "warn", {"info", "warn"}) == "warn");
  CHECK_FALSE(reader.Finish().ok());
}

TEST_CASE("address settings accept host:port with a port from 1 to 65535") {
  const std::string good = GENERATE("localhost:8080", "127.0.0.1:1", "0.0.0.0:65535", "[::1]:50051",
                                    "spine-storage:50051");
  const Environment env = MakeEnv({{"SPINE_ADDR", good}});
  ConfigReader reader(env);
  CHECK(reader.Address("SPINE_ADDR", "127.0.0.1:9") == good);
  const absl::Status status = reader.Finish();
  INFO(status.ToString());
  CHECK(status.ok());
}

TEST_CASE("address settings without a valid port are rejected and the default kept") {
  const std::string bad = GENERATE("127.0.0.1:0", "host:70000", "host:65536", "host:-1",
                                   "localhost", "localhost:", ":8080", "host:http", "");
  const Environment env = MakeEnv({{"SPINE_ADDR", bad}});
  ConfigReader reader(env);
  CHECK(reader.Address("SPINE_ADDR", "127.0.0.1:9") == "127.0.0.1:9");
  const std::string problems = Problems(reader);
  INFO(problems);
  CHECK_THAT(problems, Catch::Contains("SPINE_ADDR=" + bad + ":"));
}

TEST_CASE("dev mode is read from SPINE_DEV_MODE") {
  CHECK_FALSE(ConfigReader(MakeEnv({})).dev_mode());
  const Environment off = MakeEnv({{"SPINE_DEV_MODE", "0"}});
  CHECK_FALSE(ConfigReader(off).dev_mode());
  const Environment on = MakeEnv({{"SPINE_DEV_MODE", "1"}});
  CHECK(ConfigReader(on).dev_mode());
}

TEST_CASE("a malformed SPINE_DEV_MODE is a problem and leaves dev mode off") {
  const Environment env = MakeEnv({{"SPINE_DEV_MODE", "sure"}});
  ConfigReader reader(env);
  CHECK_FALSE(reader.dev_mode());
  CHECK_THAT(Problems(reader), Catch::Contains("SPINE_DEV_MODE=sure"));
}

TEST_CASE("an empty secret file setting is required outside dev mode") {
  const auto [dev_mode, key_file] = GENERATE(table<const char*, const char*>({
      {nullptr, nullptr},
      {nullptr, ""},
      {"0", nullptr},
      {"0", ""},
  }));
  Environment::Vars vars;
  if (dev_mode != nullptr) vars.emplace("SPINE_DEV_MODE", dev_mode);
  if (key_file != nullptr) vars.emplace("SPINE_KEY_FILE", key_file);
  const Environment env = MakeEnv(vars);
  ConfigReader reader(env);
  CHECK(reader.SecretFile("SPINE_KEY_FILE").empty());
  const std::string problems = Problems(reader);
  CHECK_THAT(problems, Catch::Contains("SPINE_KEY_FILE"));
  CHECK_THAT(problems, Catch::Contains(kRequiredOutsideDev));
}

TEST_CASE("an empty secret file setting is allowed in dev mode") {
  const Environment env = MakeEnv({{"SPINE_DEV_MODE", "1"}});
  ConfigReader reader(env);
  CHECK(reader.SecretFile("SPINE_KEY_FILE").empty());
  CHECK(reader.Finish().ok());
}

TEST_CASE("a secret file setting naming a readable file returns its path") {
  const std::string path = std::string(SPINE_SOURCE_DIR) + "/CMakeLists.txt";
  const Environment env = MakeEnv({{"SPINE_KEY_FILE", path}});
  ConfigReader reader(env);
  CHECK(reader.SecretFile("SPINE_KEY_FILE") == path);
  CHECK(reader.Finish().ok());
  CHECK(Shown(reader, "SPINE_KEY_FILE") == path);
}

TEST_CASE("a secret file setting naming a missing file is a problem even in dev mode") {
  const std::string path = std::string(SPINE_BINARY_DIR) + "/no/such/key.pem";
  const std::string dev_mode = GENERATE("0", "1");
  const Environment env = MakeEnv({{"SPINE_DEV_MODE", dev_mode}, {"SPINE_KEY_FILE", path}});
  ConfigReader reader(env);
  CHECK(reader.SecretFile("SPINE_KEY_FILE").empty());
  CHECK_THAT(Problems(reader), Catch::Contains("SPINE_KEY_FILE=" + path));
}

TEST_CASE("an empty secret is required outside dev mode") {
  const bool set_empty = GENERATE(true, false);
  Environment::Vars vars{{"SPINE_DEV_MODE", "0"}};
  if (set_empty) vars.emplace("SPINE_PASSWORD", "");
  const Environment env = MakeEnv(vars);
  ConfigReader reader(env);
  CHECK(reader.Secret("SPINE_PASSWORD", 12).empty());
  const std::string problems = Problems(reader);
  CHECK_THAT(problems, Catch::Contains("SPINE_PASSWORD"));
  CHECK_THAT(problems, Catch::Contains(kRequiredOutsideDev));
}

TEST_CASE("an empty secret is allowed in dev mode") {
  const Environment env = MakeEnv({{"SPINE_DEV_MODE", "1"}, {"SPINE_PASSWORD", ""}});
  ConfigReader reader(env);
  CHECK(reader.Secret("SPINE_PASSWORD", 12).empty());
  CHECK(reader.Finish().ok());
}

TEST_CASE("a long enough secret is returned as is") {
  const Environment env = MakeEnv({{"SPINE_PASSWORD", "correct horse battery staple"}});
  ConfigReader reader(env);
  CHECK(reader.Secret("SPINE_PASSWORD", 12) == "correct horse battery staple");
  CHECK(reader.Finish().ok());
}

TEST_CASE("a secret of exactly the minimum length is accepted") {
  const Environment env = MakeEnv({{"SPINE_PASSWORD", "abcdefghijkl"}});
  ConfigReader reader(env);
  CHECK(reader.Secret("SPINE_PASSWORD", 12) == "abcdefghijkl");
  CHECK(reader.Finish().ok());
}

TEST_CASE("a secret shorter than its minimum is rejected without revealing it") {
  const std::string dev_mode = GENERATE("0", "1");
  const Environment env =
      MakeEnv({{"SPINE_DEV_MODE", dev_mode}, {"SPINE_PASSWORD", "hunter2xyz1"}});  // 11 chars
  ConfigReader reader(env);
  reader.Secret("SPINE_PASSWORD", 12);
  const std::string problems = Problems(reader);
  CHECK_THAT(problems, Catch::Contains("SPINE_PASSWORD"));
  CHECK_THAT(problems, Catch::Contains("12"));
  CHECK_THAT(problems, !Catch::Contains("hunter2xyz1"));
}

TEST_CASE("the placeholder secret changeme is rejected in any case") {
  const std::string placeholder = GENERATE("changeme", "CHANGEME", "ChangeMe");
  const Environment env = MakeEnv({{"SPINE_PASSWORD", placeholder}});
  ConfigReader reader(env);
  reader.Secret("SPINE_PASSWORD", 4);  // long enough: only the placeholder rule applies
  const std::string problems = Problems(reader);
  CHECK_THAT(problems, Catch::Contains("SPINE_PASSWORD"));
  CHECK_THAT(problems, !Catch::Contains(placeholder));
}

TEST_CASE("the summary redacts secrets and never contains their text") {
  const Environment env = MakeEnv({{"SPINE_PASSWORD", "s3cr3t-value-0123456789"},
                                   {"SPINE_TOKEN", "tiny"},
                                   {"SPINE_NAME", "spine"}});
  ConfigReader reader(env);
  reader.Secret("SPINE_PASSWORD", 12);
  reader.Secret("SPINE_TOKEN", 12);  // too short: a problem, but still redacted
  reader.String("SPINE_NAME", "");
  CHECK(Shown(reader, "SPINE_PASSWORD") == "<redacted>");
  CHECK(Shown(reader, "SPINE_TOKEN") == "<redacted>");
  CHECK(Shown(reader, "SPINE_NAME") == "spine");
  for (const auto& [name, value] : reader.Summary()) {
    CHECK_THAT(value, !Catch::Contains("s3cr3t") && !Catch::Contains("tiny"));
  }
  CHECK_THAT(Problems(reader), !Catch::Contains("tiny"));
}

TEST_CASE("the summary lists every setting read in order") {
  const Environment env = MakeEnv({{"SPINE_B", "2"}});
  ConfigReader reader(env);
  reader.String("SPINE_A", "a");
  reader.Int("SPINE_B", 0, 0, 10);
  const std::vector<std::pair<std::string, std::string>> expected{
      {"SPINE_DEV_MODE", "0"}, {"SPINE_A", "a"}, {"SPINE_B", "2"}};
  CHECK(reader.Summary() == expected);
}

TEST_CASE("every problem is reported in one Finish") {
  const Environment env = MakeEnv({{"SPINE_COUNT", "many"},
                                   {"SPINE_RATIO", "2.5"},
                                   {"SPINE_FLAG", "maybe"},
                                   {"SPINE_ADDR", "host:70000"},
                                   {"SPINE_PASSWORD", "changeme"}});
  ConfigReader reader(env);
  reader.Int("SPINE_COUNT", 1, 0, 10);
  reader.Double("SPINE_RATIO", 0.5, 0, 1);
  reader.Bool("SPINE_FLAG", false);
  reader.Address("SPINE_ADDR", "127.0.0.1:1");
  reader.Secret("SPINE_PASSWORD", 4);
  reader.SecretFile("SPINE_KEY_FILE");
  reader.AddProblem("SPINE_A and SPINE_B conflict");
  const std::string problems = Problems(reader);
  INFO(problems);
  CHECK_THAT(problems, Catch::Contains("SPINE_COUNT=many"));
  CHECK_THAT(problems, Catch::Contains("SPINE_RATIO=2.5"));
  CHECK_THAT(problems, Catch::Contains("SPINE_FLAG=maybe"));
  CHECK_THAT(problems, Catch::Contains("SPINE_ADDR=host:70000"));
  CHECK_THAT(problems, Catch::Contains("SPINE_PASSWORD"));
  CHECK_THAT(problems, Catch::Contains("SPINE_KEY_FILE"));
  CHECK_THAT(problems, Catch::Contains("SPINE_A and SPINE_B conflict"));
  const std::vector<absl::string_view> parts = absl::StrSplit(problems, "; ");
  CHECK(parts.size() == 7);
}

TEST_CASE("a problem added by cross-field validation fails Finish") {
  const Environment env = MakeEnv({});
  ConfigReader reader(env);
  CHECK(reader.Finish().ok());
  reader.AddProblem("SPINE_MIN > SPINE_MAX");
  CHECK_THAT(Problems(reader), Catch::Contains("SPINE_MIN > SPINE_MAX"));
}

TEST_CASE("common config defaults match the documented addresses and limits") {
  const Environment env = MakeEnv({{"SPINE_DEV_MODE", "1"}});
  ConfigReader reader(env);
  const CommonConfig config = ReadCommonConfig(reader, "storage");
  const absl::Status status = reader.Finish();
  INFO(status.ToString());
  REQUIRE(status.ok());
  CHECK(config.service == "storage");
  CHECK(config.dev_mode);
  CHECK(config.log_level == "info");
  CHECK(config.data_dir == "./.spine");
  CHECK(config.jwt_public_key_file.empty());
  CHECK(config.addresses.gateway_http == "127.0.0.1:8080");
  CHECK(config.addresses.gateway_grpc == "127.0.0.1:50050");
  CHECK(config.addresses.storage == "127.0.0.1:50051");
  CHECK(config.addresses.llm == "127.0.0.1:50052");
  CHECK(config.addresses.plugins == "127.0.0.1:50053");
  CHECK(config.addresses.tasks == "127.0.0.1:50054");
  CHECK(config.shutdown_grace_ms == 5000);
  CHECK(config.max_message_bytes == 4 << 20);
  CHECK(config.rpc_deadline_ms == 5000);
}

TEST_CASE("common config outside dev mode requires the JWT public key file") {
  const Environment env = MakeEnv({});
  ConfigReader reader(env);
  const CommonConfig config = ReadCommonConfig(reader, "llm");
  CHECK_FALSE(config.dev_mode);
  const std::string problems = Problems(reader);
  CHECK_THAT(problems, Catch::Contains("SPINE_JWT_PUBLIC_KEY_FILE"));
  CHECK_THAT(problems, Catch::Contains(kRequiredOutsideDev));
}

TEST_CASE("common config applies settings from the environment") {
  const std::string key_file = std::string(SPINE_SOURCE_DIR) + "/CMakeLists.txt";
  const Environment env = MakeEnv({{"SPINE_LOG_LEVEL", "debug"},
                                   {"SPINE_DATA_DIR", "/var/lib/spine"},
                                   {"SPINE_JWT_PUBLIC_KEY_FILE", key_file},
                                   {"SPINE_GATEWAY_HTTP_ADDR", "0.0.0.0:80"},
                                   {"SPINE_GATEWAY_GRPC_ADDR", "gw:1"},
                                   {"SPINE_STORAGE_ADDR", "storage:2"},
                                   {"SPINE_LLM_ADDR", "llm:3"},
                                   {"SPINE_PLUGINS_ADDR", "plugins:4"},
                                   {"SPINE_TASKS_ADDR", "tasks:5"},
                                   {"SPINE_SHUTDOWN_GRACE_MS", "0"},
                                   {"SPINE_GRPC_MAX_MESSAGE_BYTES", "65536"},
                                   {"SPINE_RPC_DEADLINE_MS", "600000"}});
  ConfigReader reader(env);
  const CommonConfig config = ReadCommonConfig(reader, "gateway");
  const absl::Status status = reader.Finish();
  INFO(status.ToString());
  REQUIRE(status.ok());
  CHECK_FALSE(config.dev_mode);
  CHECK(config.log_level == "debug");
  CHECK(config.data_dir == "/var/lib/spine");
  CHECK(config.jwt_public_key_file == key_file);
  CHECK(config.addresses.gateway_http == "0.0.0.0:80");
  CHECK(config.addresses.gateway_grpc == "gw:1");
  CHECK(config.addresses.storage == "storage:2");
  CHECK(config.addresses.llm == "llm:3");
  CHECK(config.addresses.plugins == "plugins:4");
  CHECK(config.addresses.tasks == "tasks:5");
  CHECK(config.shutdown_grace_ms == 0);
  CHECK(config.max_message_bytes == 65536);
  CHECK(config.rpc_deadline_ms == 600000);
}

TEST_CASE("common config rejects an empty data directory and bad values") {
  const Environment env = MakeEnv({{"SPINE_DEV_MODE", "1"},
                                   {"SPINE_DATA_DIR", ""},
                                   {"SPINE_LOG_LEVEL", "loud"},
                                   {"SPINE_STORAGE_ADDR", "storage"},
                                   {"SPINE_RPC_DEADLINE_MS", "5"}});
  ConfigReader reader(env);
  const CommonConfig config = ReadCommonConfig(reader, "tasks");
  CHECK(config.log_level == "info");
  CHECK(config.addresses.storage == "127.0.0.1:50051");
  CHECK(config.rpc_deadline_ms == 5000);
  const std::string problems = Problems(reader);
  CHECK_THAT(problems, Catch::Contains("SPINE_DATA_DIR"));
  CHECK_THAT(problems, Catch::Contains("SPINE_LOG_LEVEL=loud"));
  CHECK_THAT(problems, Catch::Contains("SPINE_STORAGE_ADDR=storage"));
  CHECK_THAT(problems, Catch::Contains("SPINE_RPC_DEADLINE_MS=5"));
}

}  // namespace
}  // namespace spine
