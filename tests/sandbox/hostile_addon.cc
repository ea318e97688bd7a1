// A native Node.js addon for the hostile test plugin: what a plugin that ships compiled code
// could try. attempt(name[, port]) makes one forbidden system call and answers "ok" or the errno
// name, so the tests see the seccomp layer hold even below JavaScript. The network attempts
// connect to 127.0.0.1:port with sockets Landlock's TCP port rules do not cover.
#include <arpa/inet.h>
#include <errno.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <node_api.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <string>

namespace {

// A blocking socket of `type`/`protocol` connected to 127.0.0.1:port, or -1 with errno.
long ConnectWith(int type, int protocol, int port) {
  const int fd = socket(AF_INET, type | SOCK_CLOEXEC, protocol);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const long rc = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  const int saved = errno;
  close(fd);
  errno = saved;
  return rc;
}

std::string Attempt(const std::string& name, int port) {
  long rc = -1;
  std::array<char, 16> buffer{};
  if (name == "ptrace") {
    rc = syscall(SYS_ptrace, 16 /* PTRACE_ATTACH */, 1, 0, 0);
  } else if (name == "process_vm_readv") {
    iovec local{buffer.data(), buffer.size()};
    iovec remote{buffer.data(), buffer.size()};
    rc = syscall(SYS_process_vm_readv, 1, &local, 1, &remote, 1, 0);
  } else if (name == "io_uring_setup") {
    io_uring_params params{};
    rc = syscall(SYS_io_uring_setup, 4, &params);
  } else if (name == "unshare") {
    rc = syscall(SYS_unshare, CLONE_NEWUSER);
  } else if (name == "mount") {
    rc = syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, nullptr);
  } else if (name == "raise_rlimit") {
    rlimit unlimited{RLIM_INFINITY, RLIM_INFINITY};
    rc = setrlimit(RLIMIT_NPROC, &unlimited);
  } else if (name == "bpf") {
    rc = syscall(SYS_bpf, 0, nullptr, 0);
  } else if (name == "init_module") {
    // Killed outright by the filter (SIGSYS): the host must report SANDBOX_VIOLATION.
    rc = syscall(SYS_init_module, nullptr, 0, "");
  } else if (name == "mptcp") {
    rc = ConnectWith(SOCK_STREAM, 262 /* IPPROTO_MPTCP */, port);
  } else if (name == "sctp") {
    rc = ConnectWith(SOCK_STREAM, IPPROTO_SCTP, port);
  } else if (name == "tcp") {
    rc = ConnectWith(SOCK_STREAM, IPPROTO_TCP, port);  // the control: Landlock decides
  } else if (name == "fastopen") {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return strerrorname_np(errno);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    rc = sendto(fd, "x", 1, MSG_FASTOPEN, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    const int saved = errno;
    close(fd);
    errno = saved;
  } else if (name == "listen") {
    // listen() without bind() takes an ephemeral port.
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return strerrorname_np(errno);
    rc = listen(fd, 1);
    const int saved = errno;
    close(fd);
    errno = saved;
  } else {
    return "unknown";
  }
  if (rc >= 0) return "ok";
  return strerrorname_np(errno);
}

napi_value AttemptCall(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  std::array<napi_value, 2> args{};
  napi_get_cb_info(env, info, &argc, args.data(), nullptr, nullptr);
  std::array<char, 64> name{};
  size_t length = 0;
  napi_get_value_string_utf8(env, args[0], name.data(), name.size(), &length);
  int32_t port = 0;
  if (argc > 1) napi_get_value_int32(env, args[1], &port);
  const std::string result = Attempt(std::string(name.data(), length), port);
  napi_value out = nullptr;
  napi_create_string_utf8(env, result.data(), result.size(), &out);
  return out;
}

}  // namespace

NAPI_MODULE_INIT() {
  napi_value fn = nullptr;
  napi_create_function(env, "attempt", NAPI_AUTO_LENGTH, AttemptCall, nullptr, &fn);
  napi_set_named_property(env, exports, "attempt", fn);
  return exports;
}
