// SessionGate: the gateway's check that a verified access token still stands before a request
// goes on with it — the token has not been revoked (logout, a revoked refresh family, a user
// change; session_revocations.h), its user still exists and is not disabled, and it claims no
// more than the user's role now (a demoted admin's token stops). The services verify the signature
// themselves; they cannot know either of these.
//
// A user's state is asked of the UserStore and remembered for `ttl` (both answers), in a
// table of at most `capacity` users; so a deleted, disabled or demoted user's tokens stop within
// `ttl` whichever gateway made the change, and at once in the one that did (an answer older than
// the user's last change in SessionRevocations is not used). Service
// tokens (role "service") name a service, not a user, and are only checked for revocation.
//
// When storage cannot be reached at all (UNAVAILABLE, DEADLINE_EXCEEDED) the existence check lets
// the token through, logged and not remembered: failing closed would turn a storage outage (or
// the gateway's first seconds, before its channel connects) into an outage of every route,
// storage-free ones included, while what it protects against — a deleted user's still-valid
// token — lasts at most one token lifetime. Revocation is never relaxed.
//
// Thread-safe. The store, pool, revocations and clock must outlive the gate.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/auth/jwt.h"
#include "libs/core/clock.h"
#include "libs/core/worker_pool.h"
#include "services/gateway/auth/session_revocations.h"
#include "services/gateway/auth/user_store.h"

namespace spine::gateway {

struct SessionGateOptions {
  absl::Duration ttl = absl::Seconds(5);
  size_t capacity = 4096;
};

class SessionGate {
 public:
  SessionGate(const SessionRevocations& revocations, UserStore& store, WorkerPool& pool,
              const Clock& clock, SessionGateOptions options = {});

  // Calls `done` exactly once: OK when the token stands (or storage cannot be reached, see
  // above); UNAUTHENTICATED when it was revoked or its user does not exist; UNAVAILABLE when
  // storage answers with another error or the lookup queue is full.
  // Inline when the answer is known without storage, else from a pool thread. Never blocks.
  void Check(const AccessClaims& claims, std::function<void(absl::Status)> done) const;

  // The same, synchronously: may block on the store (for gRPC's synchronous handlers).
  absl::Status CheckNow(const AccessClaims& claims) const;

 private:
  struct Known {
    bool exists = false;
    bool disabled = false;
    std::string role;
    absl::Time checked;
  };
  // The answer for `claims` from what is known of its user.
  static absl::Status Judge(const Known& known, const AccessClaims& claims);
  // The answer from revocation and the cache, or nullopt when storage must be asked.
  std::optional<absl::Status> Quick(const AccessClaims& claims) const;
  // Asks storage about the token's user, remembers the answer and returns the status.
  absl::Status LookUp(const AccessClaims& claims) const;

  const SessionRevocations& revocations_;
  UserStore& store_;
  WorkerPool& pool_;
  const Clock& clock_;
  const SessionGateOptions options_;
  mutable absl::Mutex mu_;
  mutable absl::flat_hash_map<std::string, Known> known_ ABSL_GUARDED_BY(mu_);
};

}  // namespace spine::gateway
