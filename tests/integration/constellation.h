// Constellation: the five real service binaries on free loopback ports, for integration tests.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "tests/support/child_process.h"

namespace spine::testing {

class Constellation {
 public:
  static constexpr const char* kServices[] = {"storage", "llm", "plugins", "tasks", "gateway"};
  // The first admin every stack's gateway creates (SPINE_ADMIN_PASSWORD_FILE holds the password).
  static constexpr const char* kAdminUsername = "admin";
  static constexpr const char* kAdminPassword = "integration-test-password";

  // Generates a JWT key pair and an admin password into a temp dir and starts every service
  // with SPINE_DEV_MODE=0, so the secure-by-default path is what gets tested.
  Constellation() : Constellation({std::begin(kServices), std::end(kServices)}) {}
  // Starts only `services` (every address is still assigned, so they can find each other),
  // with `extra_env` added to (or overriding) every service's environment.
  explicit Constellation(const std::vector<std::string>& services,
                         const std::map<std::string, std::string>& extra_env = {});

  // gRPC address of a service ("gateway" means the gateway's gRPC address).
  std::string GrpcAddress(const std::string& service) const;
  int http_port() const { return http_port_; }
  // The environment every service starts with (before its own SPINE_SERVICE_TOKEN_FILE), e.g.
  // to run a service binary's subcommand against the stack.
  const std::map<std::string, std::string>& env() const { return env_; }
  // SPINE_DATA_DIR of every service.
  std::string data_dir() const { return dir_.path() + "/data"; }
  const std::string& private_key_pem() const { return private_key_pem_; }
  ChildProcess& process(const std::string& service) { return *processes_.at(service); }
  // Whether `service` is part of this stack.
  bool runs(const std::string& service) const { return processes_.count(service) > 0; }
  // The service's stderr so far (for failure messages).
  std::string Log(const std::string& service) const;

  // Starts `service` again (after it exited or was killed) with the same settings and data.
  void Restart(const std::string& service);
  // The environment `service` runs with (for running its binary's tools, e.g. a restore).
  std::map<std::string, std::string> Env(const std::string& service) const;

  // Waits until the service's gRPC health check answers SERVING.
  bool WaitHealthy(const std::string& service, absl::Duration timeout) const;
  // Polls GET path until it answers `status`; returns the last status seen.
  int WaitForHttpStatus(const std::string& path, int status, absl::Duration timeout) const;

 private:
  TempDir dir_;
  std::string private_key_pem_;
  int http_port_ = 0;
  std::map<std::string, int> grpc_ports_;
  std::map<std::string, std::string> env_;
  std::map<std::string, std::string> service_token_files_;
  std::map<std::string, std::unique_ptr<ChildProcess>> processes_;
};

}  // namespace spine::testing
