#include "services/gateway/auth/first_admin.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/core/log.h"

namespace spine::gateway {

std::unique_ptr<FirstAdminBootstrap> FirstAdminBootstrap::Start(const AuthLogic& logic,
                                                                std::string username,
                                                                std::string password,
                                                                FirstAdminBackoff backoff) {
  // Private constructor: make_unique cannot reach it.
  std::unique_ptr<FirstAdminBootstrap> bootstrap(new FirstAdminBootstrap());
  bootstrap->thread_ = std::thread([raw = bootstrap.get(), &logic, username = std::move(username),
                                    password = std::move(password),
                                    backoff] { raw->Run(logic, username, password, backoff); });
  return bootstrap;
}

FirstAdminBootstrap::~FirstAdminBootstrap() { Stop(); }

void FirstAdminBootstrap::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

bool FirstAdminBootstrap::WaitDone(absl::Duration timeout) const {
  return done_.WaitForNotificationWithTimeout(timeout);
}

void FirstAdminBootstrap::Run(const AuthLogic& logic, const std::string& username,
                              const std::string& password, FirstAdminBackoff backoff) {
  absl::Duration delay = backoff.initial;
  for (int attempt = 1; !stop_.HasBeenNotified(); ++attempt) {
    const absl::StatusOr<bool> created = logic.EnsureFirstAdmin(username, password);
    if (created.ok()) {
      if (!*created) log::Info("users exist; no first admin needed");
      admin_exists_.store(true, std::memory_order_release);
      done_.Notify();
      return;
    }
    if (absl::IsInvalidArgument(created.status())) {
      // Retrying cannot fix the settings; the message names the field, never the password.
      log::Error("cannot create the first admin from SPINE_ADMIN_USERNAME/SPINE_ADMIN_PASSWORD",
                 {{"error", std::string(created.status().message())}});
      done_.Notify();
      return;
    }
    log::Warn("first admin not created yet; retrying",
              {{"error", std::string(created.status().message())},
               {"attempt", absl::StrCat(attempt)},
               {"retry_in_ms", absl::StrCat(absl::ToInt64Milliseconds(delay))}});
    if (stop_.WaitForNotificationWithTimeout(delay)) break;
    delay = std::min(delay * 2, backoff.max);
  }
}

}  // namespace spine::gateway
