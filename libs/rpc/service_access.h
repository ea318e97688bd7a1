// Least privilege between Spine services, as the protos declare it (spine/api/http.proto): which
// internal RPCs each service may call (`callers`, `default_callers`), which event-bus queues it
// may publish to and read from (`bus_queue` on the EventBus service), and which audit actions it
// may record (`audit_action_prefix`). Nothing here is a hand-written list: every answer is read
// from the descriptors, so the declaration beside each RPC is the whole policy.
//
// A service is known by its token's subject ("gateway", "storage", "llm", "plugins", "tasks").
// Everything fails closed: an unknown subject, an undeclared method or queue is refused.
// Thread-safe (the tables are built once, on first use, and never change).
#pragma once

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "spine/api/http.pb.h"

namespace spine::rpc {

// The service whose token subject is `subject`; SERVICE_UNSPECIFIED for anything else.
spine::api::Service ServiceBySubject(absl::string_view subject);
// The token subject of `service` ("" for SERVICE_UNSPECIFIED).
std::string SubjectOf(spine::api::Service service);
// Every service with a token subject, in declaration order.
std::vector<spine::api::Service> AllServices();

// The services that may call `method` when it is ACCESS_INTERNAL: the method's `callers`, else
// its service's `default_callers`.
std::vector<spine::api::Service> CallersOf(const google::protobuf::MethodDescriptor& method);
// Whether the service with token subject `subject` may call the internal method at gRPC path
// `method` ("/package.Service/Method"). False for methods unknown to this binary.
bool MayCallInternal(absl::string_view method, absl::string_view subject);

// Whether the service `subject` may append an audit event with `action`: the action must start
// with one of the service's audit_action_prefix values.
bool MayRecordAuditAction(absl::string_view subject, absl::string_view action);

// The event bus's queue permissions. An entry for the exact queue name wins; otherwise the "*"
// entry applies; with neither, nobody may use the queue.
class BusQueuePolicy {
 public:
  // The policy declared on spine.v1.EventBus.
  static const BusQueuePolicy& Declared();
  // A policy from explicit entries (tests).
  explicit BusQueuePolicy(std::vector<spine::api::BusQueueAccess> entries);

  bool MayPublish(absl::string_view queue, absl::string_view subject) const;
  bool MaySubscribe(absl::string_view queue, absl::string_view subject) const;
  // Whether every message on `queue` must answer a delivery its publisher holds.
  bool RepliesOnly(absl::string_view queue) const;

 private:
  const spine::api::BusQueueAccess* EntryFor(absl::string_view queue) const;

  std::vector<spine::api::BusQueueAccess> entries_;
};

}  // namespace spine::rpc
