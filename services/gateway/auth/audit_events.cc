#include "services/gateway/auth/audit_events.h"

namespace spine::gateway {

void AuthAudit::Record(const AuthEvent& event) const {
  if (sink_ == nullptr) return;
  spine::v1::AuditEvent out;
  out.set_actor(event.actor);
  out.set_action(event.action);
  out.set_target(event.target);
  out.set_outcome(event.outcome);
  out.set_request_id(event.request_id);
  auto* fields = out.mutable_details()->mutable_fields();
  for (const auto& [name, value] : event.details) (*fields)[name].set_string_value(value);
  sink_->Record(std::move(out));
}

}  // namespace spine::gateway
