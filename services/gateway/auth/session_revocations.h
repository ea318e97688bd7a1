// SessionRevocations: the access tokens that must stop working before they expire — the one a
// client logged out with, and every one issued in a refresh-token family that was revoked (by
// logout, or by reuse of a spent refresh token). Access tokens are stateless JWTs, so without
// this list they would keep working for up to their 15 minutes.
//
// It remembers, for each access token this gateway issued, its jti, its expiry, its family and
// the hash of the refresh token issued with it, until the token expires: a family's live access
// tokens are always among those (each was issued within the last access-token lifetime), so any
// of the family's refresh tokens seen since then finds them. Revoked jtis are kept until their
// token expires, then forgotten (an expired token is refused anyway).
//
// Memory is bounded: at most `capacity` revoked tokens and `capacity` issued ones. A full table
// first forgets what has expired; when that frees nothing it drops the entries closest to
// expiring. Dropping a revoked entry would let that token work for the rest of its life, so the
// capacity is sized far above what logouts can produce in one token lifetime (every logout is
// authenticated and rate limited).
//
// Limits, by design: the list lives in this process. A gateway restart forgets it, and several
// gateways behind one balancer do not share it; the tokens concerned are at most one access-token
// lifetime old.
//
// Thread-safe; time comes from the injected Clock.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/core/clock.h"

namespace spine::gateway {

// How long RevokeUser's time is remembered: longer than any cache that consults it.
inline constexpr absl::Duration kUserChangeMemory = absl::Minutes(1);

class SessionRevocations {
 public:
  // `clock` must outlive the list.
  explicit SessionRevocations(const Clock& clock, size_t capacity = 65536);

  // Remembers an access token (`jti`, expiring at `exp`) of user `user_id` issued in `family_id`
  // together with the refresh token whose SHA-256 is `refresh_hash` (empty: none, as for the
  // tokens the gateway mints for an API key).
  void RecordIssued(const std::string& user_id, const std::string& family_id,
                    const std::string& refresh_hash, const std::string& jti, absl::Time exp);
  // Refuses the access token `jti` until `exp`.
  void RevokeToken(const std::string& jti, absl::Time exp);
  // Refuses every remembered access token of the family that the refresh token with SHA-256
  // `refresh_hash` belongs to. A family's refresh hashes are kept while any of its access tokens
  // lives, so a hash not found here belongs to a family with no live token from this process.
  void RevokeFamilyOf(const std::string& refresh_hash);

  // Refuses every remembered access token of `user_id` (a new password, a disabled, demoted or
  // deleted user) and notes when, so cached answers about the user older than that are not used
  // (UserChangedAt).
  void RevokeUser(const std::string& user_id);

  // Whether the access token `jti` has been revoked (and has not expired yet).
  bool IsRevoked(const std::string& jti) const;
  // When RevokeUser last ran for `user_id` in the last kUserChangeMemory, else InfinitePast.
  absl::Time UserChangedAt(const std::string& user_id) const;

  size_t revoked_size() const;

 private:
  struct Family {
    std::string user_id;
    std::vector<std::pair<std::string, absl::Time>> tokens;  // jti, exp
    std::vector<std::string> refresh_hashes;
    absl::Time until = absl::InfinitePast();  // the latest exp of its tokens
  };

  void MakeRoomForRevokedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MakeRoomForFamilyLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EraseFamilyLocked(const std::string& family_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Clock& clock_;
  const size_t capacity_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, absl::Time> revoked_ ABSL_GUARDED_BY(mu_);  // jti → exp
  absl::flat_hash_map<std::string, Family> families_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::string> family_of_ ABSL_GUARDED_BY(mu_);  // hash → id
  size_t issued_ ABSL_GUARDED_BY(mu_) = 0;  // tokens over all families
  absl::flat_hash_map<std::string, absl::Time> user_changed_ ABSL_GUARDED_BY(mu_);
};

}  // namespace spine::gateway
