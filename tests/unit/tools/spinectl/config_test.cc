// Settings precedence (flag > environment > config file > default) and the credentials file:
// written atomically at 0600, refused when others can read it.
#include "tools/spinectl/config.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "libs/rpc/error_info.h"

namespace spine::spinectl {
namespace {

namespace fs = std::filesystem;

class TempHome {
 public:
  TempHome() {
    std::string pattern = (fs::temp_directory_path() / "spinectl_test_XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempHome() { fs::remove_all(path_); }
  TempHome(const TempHome&) = delete;
  TempHome& operator=(const TempHome&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

Getenv EnvOf(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

void Write(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << text;
}

TEST_CASE("addresses: flag over environment over config file over default", "[spinectl][config]") {
  const TempHome home;
  Write(home.path() + "/spine/spinectl.conf",
        "# the stack's .env works as it is\n"
        "SPINE_STORAGE_ADDR=10.0.0.1:1\n"
        "SPINE_LLM_ADDR=10.0.0.1:2\n"
        "SPINE_PLUGINS_ADDR=10.0.0.1:3\n"
        "SPINE_OTHER=ignored\n");
  SettingFlags flags;
  flags.addresses[static_cast<size_t>(Service::kStorage)] = "flag:1";
  auto settings = ResolveSettings(
      flags, EnvOf({{"XDG_CONFIG_HOME", home.path()}, {"SPINE_LLM_ADDR", "env:2"}}));
  REQUIRE(settings.ok());
  CHECK(settings->address(Service::kStorage) == "flag:1");
  CHECK(settings->address(Service::kLlm) == "env:2");
  CHECK(settings->address(Service::kPlugins) == "10.0.0.1:3");
  CHECK(settings->address(Service::kGateway) == "127.0.0.1:50050");
  CHECK(settings->address(Service::kTasks) == "127.0.0.1:50054");
  CHECK(settings->timeout == absl::Seconds(10));
  CHECK(settings->ca_file.empty());
  CHECK(settings->credentials_path == home.path() + "/spine/credentials");
}

TEST_CASE("config file named by flag or SPINECTL_CONFIG must exist", "[spinectl][config]") {
  const TempHome home;
  SettingFlags flags;
  flags.config_file = home.path() + "/missing.conf";
  CHECK_FALSE(ResolveSettings(flags, EnvOf({{"HOME", home.path()}})).ok());
  CHECK_FALSE(ResolveSettings(
                  {}, EnvOf({{"HOME", home.path()}, {"SPINECTL_CONFIG", home.path() + "/missing"}}))
                  .ok());
  // Without XDG_CONFIG_HOME, ~/.config is the directory, and a missing default file is fine.
  auto settings = ResolveSettings({}, EnvOf({{"HOME", home.path()}}));
  REQUIRE(settings.ok());
  CHECK(settings->credentials_path == home.path() + "/.config/spine/credentials");
}

TEST_CASE("timeout and CA file come from flags or environment", "[spinectl][config]") {
  const TempHome home;
  SettingFlags flags;
  flags.timeout = "1500ms";
  const std::string ca = home.path() + "/ca.pem";
  Write(ca, "-----BEGIN CERTIFICATE-----\n");
  auto settings = ResolveSettings(flags, EnvOf({{"HOME", home.path()}, {"SPINECTL_CA_FILE", ca}}));
  REQUIRE(settings.ok());
  CHECK(settings->timeout == absl::Milliseconds(1500));
  CHECK(settings->ca_file == ca);
  // A CA file that cannot be read is an error, not a silent fallback to the system's roots.
  flags.ca_file = home.path() + "/missing.pem";
  auto missing = ResolveSettings(flags, EnvOf({{"HOME", home.path()}}));
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == absl::StatusCode::kNotFound);
  flags.ca_file.clear();
  flags.timeout = "soon";
  auto bad = ResolveSettings(flags, EnvOf({{"HOME", home.path()}}));
  REQUIRE_FALSE(bad.ok());
  CHECK(rpc::GetErrorInfo(bad.status())->reason() == "USAGE");
}

TEST_CASE("credentials round-trip at mode 0600 in a 0700 directory", "[spinectl][config]") {
  const TempHome home;
  const std::string path = home.path() + "/new/spine/credentials";
  auto none = ReadCredentials(path);
  REQUIRE(none.ok());
  CHECK_FALSE(none->has_value());

  Credentials credentials{"127.0.0.1:1", "ada", "access", 1234, "refresh"};
  REQUIRE(WriteCredentials(path, credentials).ok());
  struct stat info {};
  REQUIRE(stat(path.c_str(), &info) == 0);
  CHECK((info.st_mode & 0777) == 0600);
  REQUIRE(stat((home.path() + "/new/spine").c_str(), &info) == 0);
  CHECK((info.st_mode & 0777) == 0700);

  auto read = ReadCredentials(path);
  REQUIRE(read.ok());
  REQUIRE(read->has_value());
  CHECK((*read)->username == "ada");
  CHECK((*read)->access_token == "access");
  CHECK((*read)->access_expires_at == 1234);
  CHECK((*read)->refresh_token == "refresh");

  // A rewrite replaces the file whole and leaves no temporary file behind.
  credentials.refresh_token = "rotated";
  REQUIRE(WriteCredentials(path, credentials).ok());
  CHECK((*ReadCredentials(path))->refresh_token == "rotated");
  int files = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(home.path() + "/new/spine")) {
    ++files;
  }
  CHECK(files == 1);

  REQUIRE(RemoveCredentials(path).ok());
  CHECK_FALSE(ReadCredentials(path)->has_value());
  CHECK(RemoveCredentials(path).ok());  // already gone is fine
}

TEST_CASE("a credentials file others can read is refused", "[spinectl][config]") {
  const TempHome home;
  const std::string path = home.path() + "/credentials";
  REQUIRE(WriteCredentials(path, {"", "ada", "a", 1, "r"}).ok());
  for (mode_t mode : {0640, 0604, 0620, 0660}) {
    REQUIRE(chmod(path.c_str(), mode) == 0);
    auto read = ReadCredentials(path);
    REQUIRE_FALSE(read.ok());
    CHECK(read.status().code() == absl::StatusCode::kFailedPrecondition);
    CHECK(rpc::GetErrorInfo(read.status())->reason() == "CREDENTIALS_INSECURE");
  }
  REQUIRE(chmod(path.c_str(), 0400) == 0);
  CHECK(ReadCredentials(path).ok());
}

TEST_CASE("a credentials file that is not ours is an error, not a crash", "[spinectl][config]") {
  const TempHome home;
  const std::string path = home.path() + "/credentials";
  Write(path, "not json");
  REQUIRE(chmod(path.c_str(), 0600) == 0);
  auto read = ReadCredentials(path);
  REQUIRE_FALSE(read.ok());
  CHECK(rpc::GetErrorInfo(read.status())->reason() == "CREDENTIALS_MALFORMED");
}

TEST_CASE("a password comes from the first line of --password-file", "[spinectl][config]") {
  const TempHome home;
  const std::string path = home.path() + "/password";
  Write(path, "correct horse battery\nsecond line\n");
  auto password = ReadPassword(path, "Password: ");
  REQUIRE(password.ok());
  CHECK(*password == "correct horse battery");
  Write(path, "\n");
  CHECK_FALSE(ReadPassword(path, "Password: ").ok());
  CHECK_FALSE(ReadPassword(home.path() + "/missing", "Password: ").ok());
}

}  // namespace
}  // namespace spine::spinectl
