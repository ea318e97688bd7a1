#include "services/plugins/sandbox/read_probe.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "services/plugins/sandbox/unique_fd.h"

namespace spine::plugins::sandbox {
namespace {

// What the child reports, with errno: -1, the file opened; i, prefixes[i] could not be reached
// (O_PATH); prefixes.size(), the file was reached but could not be read.
struct Outcome {
  int index = -1;
  int error = 0;
};

constexpr int kIdentityFailed = -2;

// The child: only system calls from here on (the parent may have other threads).
[[noreturn]] void ChildMain(const std::vector<std::string>& prefixes, bool change_identity,
                            uid_t uid, gid_t gid, int report_fd) {
  Outcome outcome;
  if (change_identity &&
      (syscall(SYS_setgroups, 0, nullptr) != 0 || syscall(SYS_setresgid, gid, gid, gid) != 0 ||
       syscall(SYS_setresuid, uid, uid, uid) != 0)) {
    outcome = Outcome{kIdentityFailed, errno};
  } else {
    const std::string& file = prefixes.back();
    const int fd = open(file.c_str(), O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
      // The file was reached but not readable, unless a path on the way fails: O_PATH needs
      // search permission on the parents only, so the first path that fails to open that way
      // lies in the folder that cannot be entered (or is missing itself).
      outcome = Outcome{static_cast<int>(prefixes.size()), errno};
      for (size_t i = 0; i < prefixes.size(); ++i) {
        const int path = open(prefixes[i].c_str(), O_PATH | O_CLOEXEC);
        if (path < 0) {
          outcome = Outcome{static_cast<int>(i), errno};
          break;
        }
        close(path);
      }
    } else {
      close(fd);
    }
  }
  (void)!write(report_fd, &outcome, sizeof(outcome));
  _exit(0);
}

}  // namespace

absl::StatusOr<ReadProbe> ProbeReadableAs(const std::string& file, uid_t uid, gid_t gid) {
  if (file.empty() || file[0] != '/') {
    return absl::InvalidArgumentError("ProbeReadableAs needs an absolute path");
  }
  // "/a", "/a/b", ..., the file itself last: built before fork, the child must not allocate.
  std::vector<std::string> prefixes;
  for (size_t slash = file.find('/', 1); slash != std::string::npos;
       slash = file.find('/', slash + 1)) {
    prefixes.push_back(file.substr(0, slash));
  }
  prefixes.push_back(file);
  std::array<int, 2> pipe_fds{};
  if (pipe2(pipe_fds.data(), O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  UniqueFd read_end(pipe_fds[0]);
  UniqueFd write_end(pipe_fds[1]);
  const bool change_identity = geteuid() == 0;
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  if (pid == 0) ChildMain(prefixes, change_identity, uid, gid, write_end.get());
  write_end.Reset();
  Outcome outcome{};
  ssize_t got = 0;
  do {
    got = read(read_end.get(), &outcome, sizeof(outcome));
  } while (got < 0 && errno == EINTR);
  int wait_status = 0;
  while (waitpid(pid, &wait_status, 0) < 0 && errno == EINTR) {
  }
  if (got != static_cast<ssize_t>(sizeof(outcome))) {
    return absl::InternalError("the read probe ended without an answer");
  }
  if (outcome.index == kIdentityFailed) {
    return absl::InternalError(absl::StrCat("the read probe could not become uid ", uid, ": ",
                                            std::strerror(outcome.error)));
  }
  ReadProbe probe;
  probe.readable = outcome.index < 0;
  if (probe.readable) return probe;
  probe.error = outcome.error;
  const auto index = static_cast<size_t>(outcome.index);
  if (index >= prefixes.size()) {
    probe.blocked_at = file;
  } else if (outcome.error == EACCES) {
    // Reaching prefixes[index] was refused: its parent is the folder that cannot be entered.
    probe.blocked_at = index == 0 ? "/" : prefixes[index - 1];
  } else {
    probe.blocked_at = prefixes[index];  // missing, say
  }
  return probe;
}

}  // namespace spine::plugins::sandbox
