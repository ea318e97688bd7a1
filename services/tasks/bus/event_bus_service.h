// EventBusService: the gRPC face of the bus Broker (tasks.proto's EventBus): caller identity,
// proto ⇄ broker types, and the Subscribe stream. It holds no queueing logic of its own.
//
// Subscribe is a bidirectional stream on the callback API. The first request must be `start`
// (else INVALID_ARGUMENT) and name a queue the caller may read (else PERMISSION_DENIED); then
// the consumer sends credit / ack / nack / inProgress, and the
// broker's deliveries are written to it one at a time in the order they come. The stream's write
// queue is bounded by the subscription's credits (every queued delivery holds one). When the
// stream ends for any reason — the client half-closes, cancels, its deadline passes, or the
// connection breaks — the subscription is removed at once and its unacked deliveries go back to
// the queue for redelivery. Acks for deliveries the broker no longer holds on this stream (their
// deadline passed) are ignored: that is an ordinary race, not a protocol error.
//
// Thread-safe. `broker` and `authenticator` must outlive the server the service is registered
// with.
#pragma once

#include <functional>
#include <string>

#include "libs/audit/audit_sink.h"
#include "libs/bus/broker.h"
#include "libs/rpc/caller.h"
#include "libs/rpc/service_access.h"
#include "spine/v1/tasks.grpc.pb.h"

namespace spine::tasks {

class EventBusService final : public spine::v1::EventBus::CallbackService {
 public:
  // Called after each successful admin action (ListDeadLetters, ReplayDeadLetters) with the
  // caller, the action's name and a one-line description. Where the audit log gets written is
  // main.cc's choice; the hook must be quick and thread-safe.
  using AuditHook = std::function<void(const rpc::Caller& caller, const std::string& action,
                                       const std::string& detail)>;

  // A hook that records each admin action in `sink` as an AuditEvent (target "bus").
  static AuditHook AuditTo(audit::AuditSink& sink);

  // Queue permissions come from `policy` (by default the one declared on tasks.proto's EventBus).
  EventBusService(bus::Broker& broker, const rpc::Authenticator& authenticator,
                  AuditHook audit = nullptr,
                  const rpc::BusQueuePolicy& policy = rpc::BusQueuePolicy::Declared())
      : broker_(broker), authenticator_(authenticator), audit_(std::move(audit)), policy_(policy) {}

  // Stores the request's messages (dedupe by messageId), stamped with the caller's service.
  // PERMISSION_DENIED for a queue the caller may not publish to; on a replies-only queue
  // INVALID_ARGUMENT for a message that answers no delivery, FAILED_PRECONDITION for one that
  // answers a delivery the caller does not hold. RESOURCE_EXHAUSTED with ErrorInfo QUEUE_FULL
  // {queue, retryAfterSeconds} when the queue is full; INVALID_ARGUMENT for bad input.
  grpc::ServerUnaryReactor* Publish(grpc::CallbackServerContext* context,
                                    const spine::v1::PublishRequest* request,
                                    spine::v1::PublishResponse* response) override;
  // Each request as Publish, in order; answers the totals once the client half-closes. The first
  // refused request ends the call with its error (the earlier ones stay stored).
  grpc::ServerReadReactor<spine::v1::PublishRequest>* PublishStream(
      grpc::CallbackServerContext* context, spine::v1::PublishResponse* response) override;
  grpc::ServerBidiReactor<spine::v1::SubscribeRequest, spine::v1::Delivery>* Subscribe(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* GetQueueStats(grpc::CallbackServerContext* context,
                                          const spine::v1::GetQueueStatsRequest* request,
                                          spine::v1::GetQueueStatsResponse* response) override;
  // GetQueueStats for an operator (admins), over HTTP.
  grpc::ServerUnaryReactor* ListQueues(grpc::CallbackServerContext* context,
                                       const spine::v1::ListQueuesRequest* request,
                                       spine::v1::ListQueuesResponse* response) override;
  grpc::ServerUnaryReactor* ListDeadLetters(grpc::CallbackServerContext* context,
                                            const spine::v1::ListDeadLettersRequest* request,
                                            spine::v1::ListDeadLettersResponse* response) override;
  grpc::ServerUnaryReactor* ReplayDeadLetters(
      grpc::CallbackServerContext* context, const spine::v1::ReplayDeadLettersRequest* request,
      spine::v1::ReplayDeadLettersResponse* response) override;

 private:
  class PublishStreamReactor;
  class SubscribeReactor;

  bus::Broker& broker_;
  const rpc::Authenticator& authenticator_;
  const AuditHook audit_;
  const rpc::BusQueuePolicy& policy_;
};

// The broker's answer to a publish as the wire status: a full queue gets ErrorInfo QUEUE_FULL
// with the retry hint. Exposed for the tests.
absl::Status PublishError(const std::string& queue, const absl::Status& status);

}  // namespace spine::tasks
