#include "services/plugins/sandbox/landlock.h"

#include <fcntl.h>
#include <linux/landlock.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libs/core/status.h"

namespace spine::plugins::sandbox {
namespace {

// Access rights and structures newer than the ABI 2 that linux-libc-dev 6.1 describes; the
// values are the kernel's UAPI (include/uapi/linux/landlock.h) and never change.
constexpr uint64_t kFsTruncate = 1ULL << 14;  // ABI 3
constexpr uint64_t kFsIoctlDev = 1ULL << 15;  // ABI 5
constexpr uint64_t kNetBindTcp = 1ULL << 0;   // ABI 4
constexpr uint64_t kNetConnectTcp = 1ULL << 1;
constexpr uint64_t kScopeAbstractUnixSocket = 1ULL << 0;  // ABI 6
constexpr uint64_t kScopeSignal = 1ULL << 1;
constexpr int kRuleNetPort = 2;

struct RulesetAttr {
  uint64_t handled_access_fs;
  uint64_t handled_access_net;
  uint64_t scoped;
};

struct NetPortAttr {
  uint64_t allowed_access;
  uint64_t port;
};

constexpr uint64_t kFsReadOnly =
    LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;
// Rights that make sense on a file rather than a directory; the kernel refuses the others.
constexpr uint64_t kFsFileRights = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |
                                   LANDLOCK_ACCESS_FS_READ_FILE | kFsTruncate | kFsIoctlDev;

uint64_t HandledFs(int abi) {
  uint64_t fs = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1;  // ABI 1: bits 0..12
  if (abi >= 2) fs |= LANDLOCK_ACCESS_FS_REFER;
  if (abi >= 3) fs |= kFsTruncate;
  if (abi >= 5) fs |= kFsIoctlDev;
  return fs;
}

absl::Status AddPathRule(int ruleset_fd, const std::string& path, uint64_t access,
                         uint64_t handled) {
  UniqueFd fd(open(path.c_str(), O_PATH | O_CLOEXEC));
  if (!fd.valid()) {
    return absl::InvalidArgumentError(
        absl::StrCat("sandbox path ", path, ": ", std::strerror(errno)));
  }
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) {
    return absl::InternalError(absl::StrCat("fstat ", path, ": ", std::strerror(errno)));
  }
  if (!S_ISDIR(st.st_mode)) access &= kFsFileRights;
  landlock_path_beneath_attr attr{};
  attr.allowed_access = access & handled;
  attr.parent_fd = fd.get();
  if (syscall(SYS_landlock_add_rule, ruleset_fd, LANDLOCK_RULE_PATH_BENEATH, &attr, 0) != 0) {
    return absl::InternalError(
        absl::StrCat("landlock_add_rule for ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<int> LandlockAbiVersion() {
  const long abi =
      syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  if (abi < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("sandbox unavailable: Landlock is not offered by this kernel (",
                     std::strerror(errno), ")"));
  }
  return static_cast<int>(abi);
}

absl::StatusOr<UniqueFd> BuildLandlockRuleset(const LandlockPolicy& policy, int abi) {
  if (abi < 1) {
    return absl::FailedPreconditionError(absl::StrCat("sandbox unavailable: Landlock ABI ", abi));
  }
  if (abi < 4 && !policy.connect_ports.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("sandbox unavailable: connect ports [",
                                                      absl::StrJoin(policy.connect_ports, ","),
                                                      "] need Landlock ABI 4, kernel has ", abi));
  }
  RulesetAttr attr{};
  attr.handled_access_fs = HandledFs(abi);
  size_t attr_size = sizeof(uint64_t);
  if (abi >= 4) {
    attr.handled_access_net = kNetBindTcp | kNetConnectTcp;
    attr_size = 2 * sizeof(uint64_t);
  }
  if (abi >= 6) {
    attr.scoped = kScopeAbstractUnixSocket | kScopeSignal;
    attr_size = sizeof(RulesetAttr);
  }
  UniqueFd ruleset(static_cast<int>(syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0)));
  if (!ruleset.valid()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "sandbox unavailable: landlock_create_ruleset at ABI ", abi, ": ", std::strerror(errno)));
  }
  for (const std::string& path : policy.read_only_paths) {
    SPINE_RETURN_IF_ERROR(AddPathRule(ruleset.get(), path, kFsReadOnly, attr.handled_access_fs));
  }
  for (const std::string& path : policy.read_write_paths) {
    SPINE_RETURN_IF_ERROR(AddPathRule(ruleset.get(), path,
                                      attr.handled_access_fs & ~LANDLOCK_ACCESS_FS_EXECUTE,
                                      attr.handled_access_fs));
  }
  for (uint16_t port : policy.connect_ports) {
    NetPortAttr net{kNetConnectTcp, port};
    if (syscall(SYS_landlock_add_rule, ruleset.get(), kRuleNetPort, &net, 0) != 0) {
      return absl::InternalError(
          absl::StrCat("landlock_add_rule for TCP port ", port, ": ", std::strerror(errno)));
    }
  }
  return ruleset;
}

std::string DescribeLandlockLayer(int abi) {
  std::string out = absl::StrCat("landlock ABI ", abi, ": filesystem");
  if (abi >= 4) absl::StrAppend(&out, ", TCP bind/connect");
  if (abi >= 6) absl::StrAppend(&out, ", abstract-unix and signal scoping");
  return out;
}

}  // namespace spine::plugins::sandbox
