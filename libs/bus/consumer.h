// Consumer: the client side of EventBus.Subscribe for Spine services (executors of step jobs).
//
// It keeps one Subscribe stream open to `queue` with the service token, grants `credits`, and
// runs `handler` on each delivery on its own worker threads (`concurrency` at a time):
//   - handler returns OK            → ack; the messageId goes into the dedupe table;
//   - handler returns an error      → nack with `nack_delay` (0: the broker's backoff) and the
//                                     error's message, so the broker retries it and, after its
//                                     maxDeliver, dead-letters it with that message;
//   - handler still running         → inProgress every `in_progress_interval`, so a long handler
//                                     keeps its delivery;
//   - a redelivered messageId that is in the dedupe table is acked without running the handler.
// An error the handler knows cannot succeed on retry should be recorded by the handler (e.g. as
// a failed result published elsewhere) and answered with OK, or it will be retried.
//
// When the stream breaks (broker restart, network, its deadline) the consumer reconnects with
// exponential backoff; the broker has already put the unacked deliveries back in the queue, so
// handlers still running for the old stream finish but their acks are dropped — their messageIds
// are in the dedupe table, so the redelivery is acked without a second run.
//
// Thread-safe. The handler runs on the consumer's threads and must be thread-safe when
// concurrency > 1; it must not call Stop.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "libs/bus/handled_ids.h"
#include "libs/core/worker_pool.h"
#include "spine/v1/tasks.grpc.pb.h"

namespace spine::bus {

struct ReceivedMessage {
  std::string queue;
  std::string message_id;
  std::string payload;
  std::map<std::string, std::string> headers;
  absl::Time publish_time;
  int attempt = 0;  // 1 for the first delivery
  std::string delivery_id;
  std::string publisher;    // the publishing service, as the broker saw it
  std::string in_reply_to;  // the message id this one answers (replies only)
};

// What the consumer does with a message. See the file comment for what OK and errors mean.
using MessageHandler = std::function<absl::Status(const ReceivedMessage& message)>;

struct ConsumerOptions {
  std::string queue;
  std::string consumer_name;  // shown in the broker's logs; empty: the token's name
  std::string service_token;  // a JWT with role "service"
  int concurrency = 1;        // handlers running at once (>= 1)
  int credits = 0;            // unacked deliveries held; 0: 2 * concurrency (a little prefetch)
  absl::Duration ack_deadline = absl::Seconds(30);
  absl::Duration in_progress_interval = absl::ZeroDuration();  // 0: ack_deadline / 3
  absl::Duration nack_delay = absl::ZeroDuration();            // 0: the broker's backoff
  // The Subscribe call's deadline: the stream is reopened when it passes (every RPC has one).
  absl::Duration stream_deadline = absl::Hours(1);
  absl::Duration reconnect_initial_backoff = absl::Milliseconds(100);
  absl::Duration reconnect_max_backoff = absl::Seconds(5);
  size_t dedupe_capacity = 10000;  // handled messageIds remembered
  // False: a redelivery of a handled message runs the handler again, for a handler that must
  // answer it (StepWorker republishes the result it cached). A message whose handler is still
  // running is never run twice at once either way.
  bool skip_handled = true;
  // Called on the consumer's thread each time a stream is open and subscribed: the first time
  // and after every reconnect (e.g. the broker restarted and forgot who is there). Must not
  // block or call Stop. Optional.
  std::function<void()> on_subscribed{};
};

struct ConsumerStats {
  int64_t handled = 0;             // handler returned OK
  int64_t failed = 0;              // handler returned an error
  int64_t duplicates_skipped = 0;  // acked from the dedupe table without running
  int64_t connects = 0;            // streams opened (1 + reconnects)
};

class Consumer {
 public:
  // Validates the options and starts connecting in the background. INVALID_ARGUMENT for bad
  // options (empty queue or token, concurrency < 1, credits < 0, non-positive durations).
  static absl::StatusOr<std::unique_ptr<Consumer>> Start(std::shared_ptr<grpc::Channel> channel,
                                                         ConsumerOptions options,
                                                         MessageHandler handler);
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;
  // Stop().
  ~Consumer();

  // Closes the stream (unacked deliveries go back to the broker), lets running handlers finish
  // (their acks are dropped), skips handlers not yet started, joins the threads. Idempotent.
  void Stop();

  // Waits until a stream is open and subscribed (its start was sent), or `timeout` passes.
  bool WaitConnected(absl::Duration timeout);
  ConsumerStats Stats() const;

 private:
  // One Subscribe stream.
  struct Session {
    uint64_t generation = 0;
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientReaderWriter<spine::v1::SubscribeRequest, spine::v1::Delivery>>
        stream;
  };

  Consumer(std::shared_ptr<grpc::Channel> channel, ConsumerOptions options, MessageHandler handler,
           std::unique_ptr<WorkerPool> pool);

  void RunLoop();
  // Opens one stream and reads it until it breaks; returns whether anything was delivered.
  bool RunSession();
  void OnDelivery(uint64_t generation, const spine::v1::Delivery& delivery);
  void RunHandler(uint64_t generation, const ReceivedMessage& message);
  // Writes `request` on the stream of `generation`; dropped when that stream is gone.
  void Send(uint64_t generation, const spine::v1::SubscribeRequest& request);
  void HeartbeatLoop();

  std::unique_ptr<spine::v1::EventBus::Stub> stub_;
  const ConsumerOptions options_;
  const MessageHandler handler_;
  std::unique_ptr<WorkerPool> pool_;

  // Guards the current stream and the requests waiting to be written on it. One thread at a
  // time writes (sync streams allow one writer): the first sender to find no writer becomes it
  // and writes whatever has queued meanwhile, all but the last with a buffer hint, so a burst of
  // acks leaves in a few frames rather than one each. Never held while waiting on mu_.
  absl::Mutex write_mu_;
  Session* session_ ABSL_GUARDED_BY(write_mu_) = nullptr;
  std::vector<spine::v1::SubscribeRequest> pending_writes_ ABSL_GUARDED_BY(write_mu_);
  bool writing_ ABSL_GUARDED_BY(write_mu_) = false;
  // The current stream's context, for Stop to cancel it. Separate from write_mu_: a write
  // blocked on flow control must not keep Stop from cancelling the stream that unblocks it.
  absl::Mutex cancel_mu_;
  grpc::ClientContext* live_context_ ABSL_GUARDED_BY(cancel_mu_) = nullptr;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool connected_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t next_generation_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;  // of the open stream; 0 when none is open
  HandledIds handled_ ABSL_GUARDED_BY(mu_);
  // Messages whose handler is queued or running: messageId → (stream generation, deliveryId).
  absl::flat_hash_map<std::string, std::pair<uint64_t, std::string>> running_ ABSL_GUARDED_BY(mu_);
  ConsumerStats stats_ ABSL_GUARDED_BY(mu_);

  std::thread loop_thread_;
  std::thread heartbeat_thread_;
};

}  // namespace spine::bus
