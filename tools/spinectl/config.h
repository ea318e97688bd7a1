// Where spinectl finds the services and keeps its session: addresses from flags, then the
// environment (SPINE_*_ADDR), then a config file in .env syntax, then the defaults of
// .env.example; and the credentials file holding the refresh token (mode 0600, like ssh keys).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace spine::spinectl {

enum class Service { kGateway, kStorage, kLlm, kPlugins, kTasks };
inline constexpr std::array<Service, 5> kAllServices = {
    Service::kGateway, Service::kStorage, Service::kLlm, Service::kPlugins, Service::kTasks};

// "gateway", "storage", ...
const char* ServiceName(Service service);
// The variable its address is read from, the one the services read: "SPINE_STORAGE_ADDR", ...
const char* ServiceAddressVariable(Service service);

struct Settings {
  std::array<std::string, kAllServices.size()> addresses;
  // PEM file of the CA that signed the services' certificates; empty: plaintext.
  std::string ca_file;
  absl::Duration timeout = absl::Seconds(10);
  std::string credentials_path;

  const std::string& address(Service service) const {
    return addresses[static_cast<size_t>(service)];
  }
};

// The settings flags can give (empty when the flag was not given).
struct SettingFlags {
  std::array<std::string, kAllServices.size()> addresses;
  std::string ca_file;
  std::string timeout;
  std::string config_file;
};

using Getenv = std::function<std::optional<std::string>(const std::string&)>;

// Flags win over the environment, which wins over the config file: SETTING_FLAGS.config_file,
// else $SPINECTL_CONFIG, else $XDG_CONFIG_HOME/spine/spinectl.conf (~/.config when unset; a
// missing default file is fine). The config file uses the same SPINE_* names as the environment
// (a stack's .env works as it is).
absl::StatusOr<Settings> ResolveSettings(const SettingFlags& flags, const Getenv& getenv);

// $XDG_CONFIG_HOME/spine (or $HOME/.config/spine).
absl::StatusOr<std::string> ConfigDir(const Getenv& getenv);

// What `spinectl login` keeps between invocations.
struct Credentials {
  std::string gateway;
  std::string username;
  std::string access_token;
  // When the access token expires (Unix seconds).
  int64_t access_expires_at = 0;
  std::string refresh_token;
};

// nullopt when there is no file. FAILED_PRECONDITION (reason CREDENTIALS_INSECURE) when the
// file is readable or writable by group or others: it is refused, like ssh refuses such a key.
absl::StatusOr<std::optional<Credentials>> ReadCredentials(const std::string& path);
// Atomically (a temporary file at 0600 in the same directory, fsync, rename), creating the
// directory at 0700 if needed.
absl::Status WriteCredentials(const std::string& path, const Credentials& credentials);
// Fine if there is none.
absl::Status RemoveCredentials(const std::string& path);

// A password: the first line of `password_file` when given, else from a prompt without echo
// when stdin is a terminal, else the first line of stdin.
absl::StatusOr<std::string> ReadPassword(const std::optional<std::string>& password_file,
                                         const std::string& prompt);

// The whole file (for JSON inputs); "-" is stdin.
absl::StatusOr<std::string> ReadInputFile(const std::string& path);

}  // namespace spine::spinectl
