#include "tools/spinectl/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "libs/core/environment.h"
#include "libs/rpc/error_info.h"
#include "nlohmann/json.hpp"

namespace spine::spinectl {
namespace {

struct ServiceVars {
  const char* name;
  // The variable the services themselves read, and its .env.example default.
  const char* env;
  const char* fallback;
};

constexpr std::array<ServiceVars, kAllServices.size()> kServiceVars = {{
    {"gateway", "SPINE_GATEWAY_GRPC_ADDR", "127.0.0.1:50050"},
    {"storage", "SPINE_STORAGE_ADDR", "127.0.0.1:50051"},
    {"llm", "SPINE_LLM_ADDR", "127.0.0.1:50052"},
    {"plugins", "SPINE_PLUGINS_ADDR", "127.0.0.1:50053"},
    {"tasks", "SPINE_TASKS_ADDR", "127.0.0.1:50054"},
}};

absl::Status ErrnoError(const std::string& what) {
  const int error = errno;
  return absl::ErrnoToStatus(error, what);
}

absl::StatusOr<std::string> ReadWhole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return ErrnoError(absl::StrCat("cannot read ", path));
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

std::string FirstLine(const std::string& text) {
  std::string line = text.substr(0, text.find('\n'));
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

absl::Status MakeDirs(const std::string& dir) {
  if (dir.empty()) return absl::OkStatus();
  struct stat info {};
  if (stat(dir.c_str(), &info) == 0) return absl::OkStatus();
  const size_t slash = dir.find_last_of('/');
  if (slash != std::string::npos && slash > 0) {
    if (absl::Status parent = MakeDirs(dir.substr(0, slash)); !parent.ok()) return parent;
  }
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoError(absl::StrCat("cannot create ", dir));
  }
  return absl::OkStatus();
}

}  // namespace

const char* ServiceName(Service service) { return kServiceVars[static_cast<size_t>(service)].name; }

const char* ServiceAddressVariable(Service service) {
  return kServiceVars[static_cast<size_t>(service)].env;
}

absl::StatusOr<std::string> ConfigDir(const Getenv& getenv) {
  if (std::optional<std::string> xdg = getenv("XDG_CONFIG_HOME"); xdg && !xdg->empty()) {
    return absl::StrCat(*xdg, "/spine");
  }
  if (std::optional<std::string> home = getenv("HOME"); home && !home->empty()) {
    return absl::StrCat(*home, "/.config/spine");
  }
  return absl::FailedPreconditionError("neither XDG_CONFIG_HOME nor HOME is set");
}

absl::StatusOr<Settings> ResolveSettings(const SettingFlags& flags, const Getenv& getenv) {
  absl::StatusOr<std::string> dir = ConfigDir(getenv);
  if (!dir.ok()) return dir.status();
  std::string config_path = flags.config_file;
  bool must_exist = !config_path.empty();
  if (config_path.empty()) {
    if (std::optional<std::string> named = getenv("SPINECTL_CONFIG"); named && !named->empty()) {
      config_path = *named;
      must_exist = true;
    } else {
      config_path = *dir + "/spinectl.conf";
    }
  }
  Environment::Vars file_vars;
  if (must_exist || access(config_path.c_str(), F_OK) == 0) {
    absl::StatusOr<std::string> text = ReadWhole(config_path);
    if (!text.ok()) return text.status();
    absl::StatusOr<Environment::Vars> parsed = ParseDotenv(*text);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(config_path, ": ", parsed.status().message()));
    }
    file_vars = *std::move(parsed);
  }
  auto lookup = [&](const std::string& flag, const std::string& name,
                    const std::string& fallback) -> std::string {
    if (!flag.empty()) return flag;
    if (std::optional<std::string> value = getenv(name); value && !value->empty()) return *value;
    if (auto it = file_vars.find(name); it != file_vars.end() && !it->second.empty()) {
      return it->second;
    }
    return fallback;
  };

  Settings settings;
  for (size_t i = 0; i < kServiceVars.size(); ++i) {
    settings.addresses[i] =
        lookup(flags.addresses[i], kServiceVars[i].env, kServiceVars[i].fallback);
  }
  settings.ca_file = lookup(flags.ca_file, "SPINECTL_CA_FILE", "");
  // Checked here: gRPC would silently fall back to the system's roots for an unreadable file.
  if (!settings.ca_file.empty() && access(settings.ca_file.c_str(), R_OK) != 0) {
    return ErrnoError(absl::StrCat("--ca-file ", settings.ca_file));
  }
  const std::string timeout = lookup(flags.timeout, "SPINECTL_TIMEOUT", "10s");
  if (!absl::ParseDuration(timeout, &settings.timeout) ||
      settings.timeout <= absl::ZeroDuration()) {
    return rpc::WithErrorInfo(
        absl::InvalidArgumentError(
            absl::StrCat("--timeout ", timeout, ": not a positive duration (e.g. 10s, 500ms)")),
        "USAGE");
  }
  settings.credentials_path = *dir + "/credentials";
  return settings;
}

absl::StatusOr<std::optional<Credentials>> ReadCredentials(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    return ErrnoError(absl::StrCat("cannot read ", path));
  }
  struct stat info {};
  if (fstat(fd, &info) != 0) {
    const absl::Status error = ErrnoError(absl::StrCat("cannot stat ", path));
    close(fd);
    return error;
  }
  if ((info.st_mode & 077) != 0) {
    close(fd);
    return rpc::WithErrorInfo(
        absl::FailedPreconditionError(absl::StrCat(
            path, " is accessible by others (mode ", absl::StrFormat("%04o", info.st_mode & 07777),
            "); run `chmod 600 ", path, "` or log in again")),
        "CREDENTIALS_INSECURE");
  }
  std::string text;
  char buffer[4096];
  ssize_t got = 0;
  while ((got = read(fd, buffer, sizeof buffer)) > 0) text.append(buffer, static_cast<size_t>(got));
  close(fd);
  if (got < 0) return ErrnoError(absl::StrCat("cannot read ", path));
  const nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object() || !json.value("refreshToken", nlohmann::json()).is_string()) {
    return rpc::WithErrorInfo(absl::DataLossError(absl::StrCat(
                                  path, " is not a spinectl credentials file; log in again")),
                              "CREDENTIALS_MALFORMED");
  }
  Credentials credentials;
  credentials.gateway = json.value("gateway", "");
  credentials.username = json.value("username", "");
  credentials.access_token = json.value("accessToken", "");
  credentials.access_expires_at = json.value("accessExpiresAt", int64_t{0});
  credentials.refresh_token = json.value("refreshToken", "");
  return credentials;
}

absl::Status WriteCredentials(const std::string& path, const Credentials& credentials) {
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  if (absl::Status made = MakeDirs(dir); !made.ok()) return made;
  const nlohmann::json json = {{"gateway", credentials.gateway},
                               {"username", credentials.username},
                               {"accessToken", credentials.access_token},
                               {"accessExpiresAt", credentials.access_expires_at},
                               {"refreshToken", credentials.refresh_token}};
  const std::string text = json.dump(2) + "\n";
  std::string temp = absl::StrCat(path, ".XXXXXX");
  const int fd = mkstemp(temp.data());  // mode 0600
  if (fd < 0) return ErrnoError(absl::StrCat("cannot create a file in ", dir));
  size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    written += static_cast<size_t>(n);
  }
  const bool ok = written == text.size() && fchmod(fd, 0600) == 0 && fsync(fd) == 0;
  absl::Status status = ok ? absl::OkStatus() : ErrnoError(absl::StrCat("cannot write ", temp));
  close(fd);
  if (status.ok() && rename(temp.c_str(), path.c_str()) != 0) {
    status = ErrnoError(absl::StrCat("cannot rename ", temp, " to ", path));
  }
  if (!status.ok()) unlink(temp.c_str());
  return status;
}

absl::Status RemoveCredentials(const std::string& path) {
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return ErrnoError(absl::StrCat("cannot remove ", path));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadPassword(const std::optional<std::string>& password_file,
                                         const std::string& prompt) {
  std::string password;
  if (password_file) {
    absl::StatusOr<std::string> text = ReadInputFile(*password_file);
    if (!text.ok()) return text.status();
    password = FirstLine(*text);
  } else if (isatty(STDIN_FILENO) != 0) {
    termios saved{};
    if (tcgetattr(STDIN_FILENO, &saved) != 0) return ErrnoError("cannot read the terminal");
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    std::cerr << prompt << std::flush;
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    std::getline(std::cin, password);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
    std::cerr << "\n";
  } else {
    std::getline(std::cin, password);
    if (!password.empty() && password.back() == '\r') password.pop_back();
  }
  if (password.empty()) {
    return rpc::WithErrorInfo(absl::InvalidArgumentError("empty password"), "USAGE");
  }
  return password;
}

absl::StatusOr<std::string> ReadInputFile(const std::string& path) {
  if (path == "-") {
    std::stringstream contents;
    contents << std::cin.rdbuf();
    return contents.str();
  }
  return ReadWhole(path);
}

}  // namespace spine::spinectl
