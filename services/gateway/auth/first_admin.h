// FirstAdminBootstrap: creates the first admin account (SPINE_ADMIN_USERNAME /
// SPINE_ADMIN_PASSWORD) when storage holds no users, from a background thread.
//
// Storage may start after the gateway, so the thread retries with capped exponential backoff
// until storage answers, logging each failure; gateway start-up never waits for it and never
// fails because of it. Invalid settings (a username or password the API would refuse) are logged
// once and not retried. One thread for the life of the attempt, not one per request.
//
// Thread-safety: WaitDone may be called from any thread; Stop (and the destructor) from one
// owner thread.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "services/gateway/auth/auth_logic.h"

namespace spine::gateway {

struct FirstAdminBackoff {
  absl::Duration initial = absl::Milliseconds(250);
  absl::Duration max = absl::Seconds(30);
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

 private:
  FirstAdminBootstrap() = default;
  void Run(const AuthLogic& logic, const std::string& username, const std::string& password,
           FirstAdminBackoff backoff);

  absl::Notification stop_;
  absl::Notification done_;
  std::thread thread_;
};

}  // namespace spine::gateway
