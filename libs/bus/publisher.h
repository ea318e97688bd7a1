// Publisher: the client side of EventBus.Publish / PublishStream for Spine services.
//
// Every call carries a deadline and the service token. A call that fails in a way a retry can
// fix (UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED, a full queue) is retried with the same
// messageIds after a backoff (a full queue's retry hint when it gives one), up to max_attempts:
// the broker's dedupe window makes a retried publish store each message once.
//
// Thread-safe; calls block the calling thread (for up to max_attempts * (timeout + backoff)).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "spine/v1/tasks.grpc.pb.h"

namespace spine::bus {

struct OutgoingMessage {
  std::string id;  // messageId: choose it so that a retry of the same logical event repeats it
  std::string payload;
  std::map<std::string, std::string> headers;
  // The delivery (held by this service now) the message answers; required on replies-only
  // queues such as "steps.results".
  std::string reply_to_delivery_id;
};

struct PublisherOptions {
  std::string service_token;                  // a JWT with role "service"
  absl::Duration timeout = absl::Seconds(5);  // deadline of each attempt
  int max_attempts = 5;                       // >= 1
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(2);
};

struct Published {
  int accepted = 0;    // stored by this call
  int duplicates = 0;  // already stored within the dedupe window (e.g. by an earlier attempt)
};

class Publisher {
 public:
  Publisher(std::shared_ptr<grpc::Channel> channel, PublisherOptions options);

  // One unary Publish of `messages` (at most the broker's batch limit, 1000 by default).
  absl::StatusOr<Published> Publish(const std::string& queue,
                                    const std::vector<OutgoingMessage>& messages);
  // Many messages over one PublishStream call, `chunk` messages per request; on a retryable
  // failure the whole stream is sent again (duplicates are counted, not stored twice).
  absl::StatusOr<Published> PublishBatch(const std::string& queue,
                                         const std::vector<OutgoingMessage>& messages,
                                         int chunk = 100);

  // A random messageId (128 bits, hex) for a message with no natural id.
  static std::string NewMessageId();

 private:
  absl::StatusOr<Published> PublishOnce(const std::string& queue,
                                        const std::vector<OutgoingMessage>& messages);
  absl::StatusOr<Published> PublishStreamOnce(const std::string& queue,
                                              const std::vector<OutgoingMessage>& messages,
                                              int chunk);
  // A context with this attempt's deadline and the service token.
  std::unique_ptr<grpc::ClientContext> NewContext() const;
  // Runs `attempt` until it succeeds, fails for good, or max_attempts is reached.
  template <typename Attempt>
  absl::StatusOr<Published> WithRetries(const Attempt& attempt);

  std::unique_ptr<spine::v1::EventBus::Stub> stub_;
  const PublisherOptions options_;
};

// Whether a failed bus call may succeed when retried: UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED,
// and RESOURCE_EXHAUSTED with reason QUEUE_FULL.
bool IsRetryable(const absl::Status& status);

}  // namespace spine::bus
