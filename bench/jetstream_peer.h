// JetStreamPeer: NATS JetStream, the engine DESIGN.md names for the bus beyond one machine,
// measured by bench/bus the way it measures the bus, so the two figures of one run compare.
//
// It starts Debian's nats-server with JetStream (file storage in a directory of the caller's) as a
// child process on a free loopback port and drives it with libnats: every run gets a fresh file
// stream and a durable push consumer whose subscribers ack each message (natsMsg_Ack, explicit
// ack policy), and the producer publishes asynchronously (js_PublishAsync). A libnats call that
// fails ends the process with the NATS error text, as every bench failure does.
//
// Not thread-safe: one thread drives it; libnats' own threads run the consumers' callbacks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "nats/nats.h"
#include "tests/support/child_process.h"

namespace spine::bench {

// The path of the nats-server executable on PATH or in /usr/sbin (where Debian puts it, outside a
// non-root PATH); "" when it is not installed.
std::string FindNatsServer();

struct NatsDeleter {
  void operator()(natsConnection* connection) const { natsConnection_Destroy(connection); }
  void operator()(jsCtx* context) const { jsCtx_Destroy(context); }
  void operator()(natsOptions* options) const { natsOptions_Destroy(options); }
};
template <typename T>
using NatsPtr = std::unique_ptr<T, NatsDeleter>;

class JetStreamPeer {
 public:
  struct Drain {
    absl::Duration handled;  // until every message was acked by a handler and every publish
                             // acknowledged by the server
    absl::Duration settled;  // until the server holds no unacked message of the run
  };
  struct Rates {
    double acked_per_second;
    double published_per_second;  // stored by the server (its stream's message count)
    int64_t backlog;              // stored but not yet acked when the producer stopped
  };

  // Starts `server_path` with its store under `dir` (which must exist and outlive the peer),
  // waits (bounded) until JetStream answers, and connects. Dies on failure.
  static std::unique_ptr<JetStreamPeer> Start(const std::string& server_path,
                                              const std::string& dir, size_t payload_bytes);
  // Closes the connection and stops nats-server (SIGTERM, then the ChildProcess's SIGKILL).
  ~JetStreamPeer();
  JetStreamPeer(const JetStreamPeer&) = delete;
  JetStreamPeer& operator=(const JetStreamPeer&) = delete;

  // The server's version as `nats-server --version` prints it, e.g. "2.9.10".
  const std::string& version() const { return version_; }

  // One producer publishes `count` messages asynchronously while one subscriber acks each; the
  // consumer may hold `credits` unacked messages (MaxAckPending), as the bus Consumer's credits.
  Drain PublishAndDrain(int count, int credits);

  // One producer publishes asynchronously flat out while `consumers` subscribers (a queue group of
  // one durable consumer, each on its own connection) ack; the rates over `seconds` after a
  // one-second warm-up. Each subscriber may hold `credits` unacked messages.
  Rates Sustained(int consumers, int seconds, int credits);

 private:
  class PublishErrors;

  JetStreamPeer(std::unique_ptr<spine::testing::ChildProcess> server, std::string url,
                std::string version, size_t payload_bytes);

  struct Stream {
    std::string name;
    std::string subject;  // its one subject
  };
  // A fresh file stream for the next run.
  Stream NewStream();
  void DeleteStream(const std::string& stream);
  // The durable push consumer `kGroup` on `stream`, delivering to a queue group.
  void AddConsumer(const std::string& stream, int max_ack_pending);
  // The server's count of messages not yet acked by the consumer (delivered or not).
  int64_t Unsettled(const std::string& stream);
  // The number of messages `stream` holds.
  uint64_t Stored(const std::string& stream);
  void PublishAsync(const std::string& subject);
  // Until every async publish was acknowledged by the server; dies if any was refused.
  void WaitPublished();

  std::unique_ptr<spine::testing::ChildProcess> server_;
  std::string url_;
  std::string version_;
  std::string payload_;
  std::unique_ptr<PublishErrors> publish_errors_;  // outlives js_, whose callback it is
  NatsPtr<natsConnection> connection_;
  NatsPtr<jsCtx> js_;
  int runs_ = 0;
};

}  // namespace spine::bench
