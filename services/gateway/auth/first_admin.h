// FirstAdminBootstrap: creates the first admin account (SPINE_ADMIN_USERNAME /
// SPINE_ADMIN_PASSWORD) when storage holds no users, from a background thread.
//
// Storage may start after the gateway, so the thread retries with capped exponential backoff
// until storage answers, logging each failure; gateway start-up never waits for it and never
// fails because of it. Invalid settings (a username or password the API would refuse) are logged
// once and not retried. One thread for the life of the attempt, not one per request. The
// gateway's /readyz waits for AdminExists(), so the backoff is capped low: storage coming up
// late must not leave the stack unready for long after it answers.
//
// Thread-safety: WaitDone and AdminExists may be called from any thread; Stop (and the
// destructor) from one owner thread.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "services/gateway/auth/auth_logic.h"

namespace spine::gateway {

struct FirstAdminBackoff {
  absl::Duration initial = absl::Milliseconds(250);
  absl::Duration max = absl::Seconds(2);
};

class FirstAdminBootstrap {
 public:
  // Starts the attempt. `logic` must outlive the bootstrap.
  static std::unique_ptr<FirstAdminBootstrap> Start(const AuthLogic& logic, std::string username,
                                                    std::string password,
                                                    FirstAdminBackoff backoff = {});
  FirstAdminBootstrap(const FirstAdminBootstrap&) = delete;
  FirstAdminBootstrap& operator=(const FirstAdminBootstrap&) = delete;
  // Stop().
  ~FirstAdminBootstrap();

  // Abandons any remaining retries and joins the thread. Idempotent.
  void Stop();
  // Waits up to `timeout` for the attempt to end (admin created, users already present, or given
  // up on invalid settings). True when it ended.
  bool WaitDone(absl::Duration timeout) const;
  // Whether the first admin is known to exist: this attempt created it, or found users already
  // there (another gateway or an earlier start created them). False while retrying and after
  // giving up on invalid settings (nobody could log in as the configured admin).
  bool AdminExists() const { return admin_exists_.load(std::memory_order_acquire); }

 private:
  FirstAdminBootstrap() = default;
  void Run(const AuthLogic& logic, const std::string& username, const std::string& password,
           FirstAdminBackoff backoff);

  absl::Notification stop_;
  absl::Notification done_;
  std::atomic<bool> admin_exists_{false};
  std::thread thread_;
};

}  // namespace spine::gateway
