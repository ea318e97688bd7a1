// ProbeReadableAs: whether a worker will be able to read a file, asked of the kernel as the
// worker's own user rather than guessed from mode bits (ACLs, group membership, a folder on the
// way that cannot be entered: the kernel decides all of it). The loader uses it on each plugin's
// entry, so a plugin its worker could never load is FAILED at load time instead of failing
// every call with node's "Cannot find module".
//
// Free function, no state: thread-safe. It forks a short-lived child and reaps it.
#pragma once

#include <sys/types.h>

#include <string>

#include "absl/status/statusor.h"

namespace spine::plugins::sandbox {

struct ReadProbe {
  bool readable = false;
  // When not readable: where the open stopped, an absolute path. The first directory on the way
  // that the user cannot enter (EACCES) or that is missing, else the file itself.
  std::string blocked_at{};
  int error = 0;  // errno of the failed open
};

// Opens the absolute path `file` for reading as `uid`/`gid` without supplementary groups, the
// identity SpawnSandboxed gives a worker, in a child process. When this process is not root it
// cannot change identity and the child keeps the host's (which is then also the worker's, see
// DefaultSandboxUid). INTERNAL when the child could not be started or take the identity.
absl::StatusOr<ReadProbe> ProbeReadableAs(const std::string& file, uid_t uid, gid_t gid);

}  // namespace spine::plugins::sandbox
