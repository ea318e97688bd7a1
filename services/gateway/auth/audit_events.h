// AuthAudit: the authentication events the gateway appends to the audit log (all "auth.*",
// the gateway's audit_action_prefix): logins with their client address, logouts, refresh-token
// reuse, lockouts, user and role changes, password changes, API key creation and revocation.
//
// The actor is the acting user's id, or "gateway" when no user can be named (a failed login, a
// reused refresh token); the target names what was acted on ("user:7", "apikey:3"). Details never
// hold a password, token or key secret. Recording only queues (libs/audit), so no request waits
// on storage. Thread-safe.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "libs/audit/audit_sink.h"

namespace spine::gateway {

// The actor of events no user can be named for.
inline constexpr char kGatewayActor[] = "gateway";

struct AuthEvent {
  std::string actor;
  std::string action;  // "auth.login", "auth.user.disable", ...
  std::string target;
  std::string outcome = "ok";  // "ok", "denied" or "error"
  std::string request_id{};
  std::vector<std::pair<std::string, std::string>> details{};  // string values only
};

class AuthAudit {
 public:
  // `sink` may be null (nothing is recorded); borrowed.
  explicit AuthAudit(audit::AuditSink* sink) : sink_(sink) {}
  void Record(const AuthEvent& event) const;

 private:
  audit::AuditSink* sink_;
};

}  // namespace spine::gateway
