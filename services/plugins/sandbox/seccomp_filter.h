// The seccomp filter of sandboxed plugin workers, compiled by libseccomp ahead of the fork.
//
// The program is built in the host and loaded in the child with one prctl, because the
// child of a multi-threaded host may only make async-signal-safe calls and libseccomp
// allocates. Thread-safety: free functions without shared state.
#pragma once

#include <linux/filter.h>

#include <vector>

#include "absl/status/statusor.h"

namespace spine::plugins::sandbox {

struct SeccompPolicy {
  // Allows plain TCP sockets (AF_INET/AF_INET6, SOCK_STREAM, protocol 0 or IPPROTO_TCP);
  // Landlock then limits which ports.
  bool allow_tcp = false;
};

// A BPF program for the native architecture. Everything is allowed except, with EPERM:
// ptrace, process_vm_readv/writev, mount/umount2/pivot_root/chroot, unshare/setns, clone
// with namespace flags (clone3 gets ENOSYS so libc falls back to clone), bpf,
// perf_event_open, keyctl/add_key/request_key, io_uring_*, personality, userfaultfd,
// name_to_handle_at/open_by_handle_at; socket() of any family but, when `allow_tcp`,
// AF_INET/AF_INET6 SOCK_STREAM with protocol 0 or IPPROTO_TCP (the only sockets Landlock's
// port rules cover: no MPTCP, SCTP, UDP or raw; AF_UNIX only through socketpair);
// socketpair of any family but AF_UNIX; listen(); and sendto/sendmsg/sendmmsg with
// MSG_FASTOPEN (a connect that bypasses Landlock's connect hook). kexec_load/kexec_file_load,
// init/finit/delete_module, reboot and swapon/off kill the process, and so does a foreign
// architecture (i386 through int 0x80).
absl::StatusOr<std::vector<sock_filter>> BuildSeccompProgram(const SeccompPolicy& policy);

}  // namespace spine::plugins::sandbox
