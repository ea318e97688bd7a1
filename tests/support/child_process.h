// ChildProcess: starts a real binary for integration tests and always reaps it.
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace spine::testing {

class ChildProcess {
 public:
  // Starts `path` with `args` after argv[0] and exactly `env` as its environment; stdout and
  // stderr go to `log_path`.
  ChildProcess(const std::string& path, const std::map<std::string, std::string>& env,
               const std::string& log_path, const std::vector<std::string>& args = {});
  // Sends SIGKILL if still running, then reaps.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  void Signal(int signal_number) const;
  // Waits up to `timeout` for exit; the exit code (128+signal when killed), or nullopt.
  std::optional<int> WaitExit(absl::Duration timeout);

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
};

// A TCP port on 127.0.0.1 that was free a moment ago.
int FreeLoopbackPort();

// A fresh directory under /tmp, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  // Writes `contents` to path()/name with `mode`; returns the full path.
  std::string WriteFile(const std::string& name, const std::string& contents,
                        int mode = 0600) const;

 private:
  std::string path_;
};

}  // namespace spine::testing
