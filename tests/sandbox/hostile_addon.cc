// A native Node.js addon for the hostile test plugin: what a plugin that ships compiled code
// could try. attempt(name) makes one forbidden system call and answers "ok" or the errno name,
// so the tests see the seccomp layer hold even below JavaScript.
#include <errno.h>
#include <linux/io_uring.h>
#include <node_api.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <string>

namespace {

std::string Attempt(const std::string& name) {
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
  } else {
    return "unknown";
  }
  if (rc >= 0) return "ok";
  return strerrorname_np(errno);
}

napi_value AttemptCall(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg = nullptr;
  napi_get_cb_info(env, info, &argc, &arg, nullptr, nullptr);
  std::array<char, 64> name{};
  size_t length = 0;
  napi_get_value_string_utf8(env, arg, name.data(), name.size(), &length);
  const std::string result = Attempt(std::string(name.data(), length));
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
