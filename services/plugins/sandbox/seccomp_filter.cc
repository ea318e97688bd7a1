#include "services/plugins/sandbox/seccomp_filter.h"

#include <netinet/in.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/core/status.h"
#include "services/plugins/sandbox/unique_fd.h"

namespace spine::plugins::sandbox {
namespace {

struct CtxDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};
using Ctx = std::unique_ptr<void, CtxDeleter>;

// libseccomp's SCMP_A0() macros are C compound literals, which -Wpedantic rejects in C++.
scmp_arg_cmp Arg(unsigned int arg, scmp_compare op, scmp_datum_t a, scmp_datum_t b = 0) {
  return scmp_arg_cmp{arg, op, a, b};
}

absl::Status Rule(scmp_filter_ctx ctx, uint32_t action, const char* name,
                  std::initializer_list<scmp_arg_cmp> args = {}) {
  const int nr = seccomp_syscall_resolve_name(name);
  if (nr == __NR_SCMP_ERROR) return absl::OkStatus();  // not on this architecture
  const int rc = seccomp_rule_add_array(ctx, action, nr, static_cast<unsigned int>(args.size()),
                                        args.size() == 0 ? nullptr : args.begin());
  if (rc != 0) {
    return absl::InternalError(absl::StrCat("seccomp_rule_add(", name, "): ", std::strerror(-rc)));
  }
  return absl::OkStatus();
}

constexpr int kMaxFamily = 64;  // AF_MAX is 46 today; anything at or above this is denied too

}  // namespace

absl::StatusOr<std::vector<sock_filter>> BuildSeccompProgram(const SeccompPolicy& policy) {
  Ctx ctx(seccomp_init(SCMP_ACT_ALLOW));
  if (!ctx) return absl::InternalError("seccomp_init failed");
  scmp_filter_ctx c = ctx.get();
  const uint32_t eperm = SCMP_ACT_ERRNO(EPERM);

  for (const char* name : {"ptrace",
                           "process_vm_readv",
                           "process_vm_writev",
                           "mount",
                           "umount2",
                           "pivot_root",
                           "chroot",
                           "unshare",
                           "setns",
                           "bpf",
                           "perf_event_open",
                           "keyctl",
                           "add_key",
                           "request_key",
                           "io_uring_setup",
                           "io_uring_enter",
                           "io_uring_register",
                           "personality",
                           "userfaultfd",
                           "name_to_handle_at",
                           "open_by_handle_at",
                           "fsopen",
                           "fsmount",
                           "fspick",
                           "move_mount",
                           "open_tree",
                           "mount_setattr",
                           "kcmp",
                           "acct",
                           "syslog",
                           "quotactl",
                           "settimeofday",
                           "clock_settime",
                           "clock_adjtime",
                           "adjtimex",
                           "sethostname",
                           "setdomainname",
                           "iopl",
                           "ioperm",
                           "lookup_dcookie",
                           "fanotify_init",
                           "vhangup"}) {
    SPINE_RETURN_IF_ERROR(Rule(c, eperm, name));
  }
  for (const char* name : {"kexec_load", "kexec_file_load", "init_module", "finit_module",
                           "delete_module", "reboot", "swapon", "swapoff"}) {
    SPINE_RETURN_IF_ERROR(Rule(c, SCMP_ACT_KILL_PROCESS, name));
  }
  // clone3 passes its flags in memory a filter cannot read; ENOSYS makes glibc use clone.
  SPINE_RETURN_IF_ERROR(Rule(c, SCMP_ACT_ERRNO(ENOSYS), "clone3"));
  for (scmp_datum_t flag : {CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWIPC,
                            CLONE_NEWUTS, CLONE_NEWCGROUP, 0x00000080 /* CLONE_NEWTIME */}) {
    SPINE_RETURN_IF_ERROR(Rule(c, eperm, "clone", {Arg(0, SCMP_CMP_MASKED_EQ, flag, flag)}));
  }

  // socket(): families by number, so a family this code has never heard of is denied too.
  for (int family = 0; family < kMaxFamily; ++family) {
    const bool inet = family == AF_INET || family == AF_INET6;
    const auto fam = static_cast<scmp_datum_t>(family);
    if (inet && policy.allow_tcp) {
      // Plain TCP only: Landlock restricts the ports of TCP sockets and knows nothing of the
      // rest. Every type but SOCK_STREAM is refused (UDP, raw, SCTP's SEQPACKET, ...), and so
      // is every stream protocol but 0 and IPPROTO_TCP: MPTCP (262) and SCTP (132) are stream
      // sockets too, and Landlock's connect rule does not see them. The arguments are
      // compared as 64-bit values while the kernel reads ints, so anything with high bits
      // set is denied as well (it is > IPPROTO_TCP or matches no allowed value).
      for (scmp_datum_t type = 0; type <= 0xf; ++type) {
        if (type == SOCK_STREAM) continue;
        SPINE_RETURN_IF_ERROR(Rule(
            c, eperm, "socket", {Arg(0, SCMP_CMP_EQ, fam), Arg(1, SCMP_CMP_MASKED_EQ, 0xf, type)}));
      }
      for (scmp_datum_t protocol = 1; protocol < IPPROTO_TCP; ++protocol) {
        SPINE_RETURN_IF_ERROR(
            Rule(c, eperm, "socket", {Arg(0, SCMP_CMP_EQ, fam), Arg(2, SCMP_CMP_EQ, protocol)}));
      }
      SPINE_RETURN_IF_ERROR(
          Rule(c, eperm, "socket", {Arg(0, SCMP_CMP_EQ, fam), Arg(2, SCMP_CMP_GT, IPPROTO_TCP)}));
      // socketpair has no inet families (EOPNOTSUPP); refused here all the same.
      SPINE_RETURN_IF_ERROR(Rule(c, eperm, "socketpair", {Arg(0, SCMP_CMP_EQ, fam)}));
      continue;
    }
    SPINE_RETURN_IF_ERROR(Rule(c, eperm, "socket", {Arg(0, SCMP_CMP_EQ, fam)}));
    if (family != AF_UNIX) {
      SPINE_RETURN_IF_ERROR(Rule(c, eperm, "socketpair", {Arg(0, SCMP_CMP_EQ, fam)}));
    }
  }
  SPINE_RETURN_IF_ERROR(Rule(c, eperm, "socket", {Arg(0, SCMP_CMP_GE, kMaxFamily)}));
  SPINE_RETURN_IF_ERROR(Rule(c, eperm, "socketpair", {Arg(0, SCMP_CMP_GE, kMaxFamily)}));
  // A worker never serves: listen() on a socket that was never bound would take an ephemeral
  // port without the bind Landlock denies.
  SPINE_RETURN_IF_ERROR(Rule(c, eperm, "listen"));
  // TCP Fast Open connects from sendto/sendmsg, past the connect() hook Landlock's port rule
  // sits on.
  for (const auto& [name, flags_arg] :
       {std::pair{"sendto", 3U}, std::pair{"sendmsg", 2U}, std::pair{"sendmmsg", 3U}}) {
    SPINE_RETURN_IF_ERROR(
        Rule(c, eperm, name, {Arg(flags_arg, SCMP_CMP_MASKED_EQ, MSG_FASTOPEN, MSG_FASTOPEN)}));
  }

  // libseccomp 2.5 exports only to an fd; a memfd keeps it off the filesystem.
  UniqueFd mem(memfd_create("spine-seccomp", MFD_CLOEXEC));
  if (!mem.valid()) {
    return absl::InternalError(absl::StrCat("memfd_create: ", std::strerror(errno)));
  }
  if (const int rc = seccomp_export_bpf(c, mem.get()); rc != 0) {
    return absl::InternalError(absl::StrCat("seccomp_export_bpf: ", std::strerror(-rc)));
  }
  const off_t size = lseek(mem.get(), 0, SEEK_END);
  if (size <= 0 || size % static_cast<off_t>(sizeof(sock_filter)) != 0) {
    return absl::InternalError(absl::StrCat("seccomp program of ", size, " bytes"));
  }
  std::vector<sock_filter> program(static_cast<size_t>(size) / sizeof(sock_filter));
  if (pread(mem.get(), program.data(), static_cast<size_t>(size), 0) != size) {
    return absl::InternalError(absl::StrCat("reading seccomp program: ", std::strerror(errno)));
  }
  return program;
}

}  // namespace spine::plugins::sandbox
