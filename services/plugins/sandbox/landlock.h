// Landlock rulesets for sandboxed plugin workers, built through the raw syscalls.
//
// Debian 12's headers describe Landlock ABI 2 while the kernels it runs on offer more, so
// the structures and constants of later ABIs (network rules, scopes) are spelled out in
// landlock.cc; the ruleset asks for whatever the running kernel supports.
// Thread-safety: free functions without shared state.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "services/plugins/sandbox/unique_fd.h"

namespace spine::plugins::sandbox {

// The Landlock ABI version the kernel offers, or FAILED_PRECONDITION when Landlock is
// missing or disabled.
absl::StatusOr<int> LandlockAbiVersion();

struct LandlockPolicy {
  // Files and directories readable (and executable) by the sandbox; directories recursively.
  std::vector<std::string> read_only_paths;
  // Files and directories the sandbox may read, create, write, rename and remove under.
  std::vector<std::string> read_write_paths;
  // TCP ports the sandbox may connect to. Binding any TCP port is always denied.
  std::vector<uint16_t> connect_ports;
};

// A ruleset fd (O_CLOEXEC) that, once given to landlock_restrict_self, allows exactly
// `policy`: every filesystem access right the kernel knows is handled, TCP bind/connect
// too (ABI >= 4), and abstract UNIX sockets and signals are scoped to the sandbox
// (ABI >= 6). Fails when a path does not exist, or when ports are declared but the kernel
// cannot restrict connect to them (ABI < 4).
absl::StatusOr<UniqueFd> BuildLandlockRuleset(const LandlockPolicy& policy, int abi);

// What BuildLandlockRuleset enforces at `abi`, for logs and the status probe.
std::string DescribeLandlockLayer(int abi);

}  // namespace spine::plugins::sandbox
