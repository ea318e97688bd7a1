#include "bench/jetstream_peer.h"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "bench/bench_support.h"

namespace spine::bench {
namespace {

using spine::testing::ChildProcess;

constexpr char kGroup[] = "bench";  // the durable consumer's name and its queue group
constexpr int64_t kApiWaitMs = 10000;
// Async publishes in flight before js_PublishAsync waits: the Go client's default. A producer
// that reaches it waits (kStallWaitMs at most) rather than failing, as the bus's PublishStream
// waits for its flow control.
constexpr int64_t kMaxPendingPublishes = 4000;
constexpr int64_t kStallWaitMs = 30000;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "bus_bench: JetStream: %s\n", what.c_str());
  std::exit(1);
}

// Dies unless `status` is NATS_OK, with libnats' own text of what went wrong (and JetStream's
// error code when the server gave one).
void Check(natsStatus status, const std::string& what,
           jsErrCode js_error = static_cast<jsErrCode>(0)) {
  if (status == NATS_OK) return;
  std::string text = absl::StrCat(what, ": ", natsStatus_GetText(status));
  if (const char* detail = nats_GetLastError(nullptr); detail != nullptr && *detail != '\0') {
    absl::StrAppend(&text, " (", detail, ")");
  }
  if (js_error != 0) absl::StrAppend(&text, " [JetStream error ", static_cast<int>(js_error), "]");
  Die(text);
}

NatsPtr<natsConnection> Connect(const std::string& url) {
  natsOptions* raw_options = nullptr;
  Check(natsOptions_Create(&raw_options), "natsOptions_Create");
  const NatsPtr<natsOptions> options(raw_options);
  Check(natsOptions_SetURL(options.get(), url.c_str()), "natsOptions_SetURL");
  // A server that goes away mid-run is a failure of the run, not something to wait out.
  Check(natsOptions_SetAllowReconnect(options.get(), false), "natsOptions_SetAllowReconnect");
  natsConnection* connection = nullptr;
  Check(natsConnection_Connect(&connection, options.get()), "connecting to " + url);
  return NatsPtr<natsConnection>(connection);
}

NatsPtr<jsCtx> JetStream(natsConnection* connection, jsOptions* options) {
  jsCtx* context = nullptr;
  Check(natsConnection_JetStream(&context, connection, options), "natsConnection_JetStream");
  return NatsPtr<jsCtx>(context);
}

// What `nats-server --version` prints ("nats-server: v2.9.10"), as "2.9.10".
std::string ServerVersion(const std::string& server_path, const std::string& dir) {
  const std::string log = dir + "/nats-server-version.log";
  ChildProcess version(server_path, {}, log, {"--version"});
  if (version.WaitExit(absl::Seconds(10)) != 0) {
    Die(absl::StrCat(server_path, " --version failed: ", LogTail(log)));
  }
  std::string text = LogTail(log);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  const size_t v = text.rfind(" v");
  return v == std::string::npos ? text : text.substr(v + 2);
}

// Counts what a run's subscribers ack; `all_acked` once `target` were acked (-1: never).
struct AckCounter {
  std::atomic<int64_t> acked{0};
  std::atomic<int64_t> failures{0};
  int64_t target = -1;
  absl::Notification all_acked;
};

// One subscriber of a run's consumer, on its own connection as a separate executor would be. Its
// callback runs on a libnats thread and acks each message; the destructor drains the
// subscription, so no callback runs after it returns.
class Subscriber {
 public:
  Subscriber(const std::string& url, const std::string& stream, const std::string& subject,
             AckCounter& counter)
      : connection_(Connect(url)), js_(JetStream(connection_.get(), nullptr)) {
    jsSubOptions options;
    Check(jsSubOptions_Init(&options), "jsSubOptions_Init");
    options.Stream = stream.c_str();
    options.Consumer = kGroup;
    options.Queue = kGroup;
    // libnats acks after the callback by default; the callback acks itself, so that an ack that
    // cannot be sent is seen.
    options.ManualAck = true;
    jsErrCode js_error{};
    Check(js_Subscribe(&subscription_, js_.get(), subject.c_str(), &Subscriber::OnMessage, &counter,
                       nullptr, &options, &js_error),
          "js_Subscribe " + subject, js_error);
  }
  ~Subscriber() {
    Check(natsSubscription_Drain(subscription_), "natsSubscription_Drain");
    Check(natsSubscription_WaitForDrainCompletion(subscription_, kApiWaitMs),
          "natsSubscription_WaitForDrainCompletion");
    natsSubscription_Destroy(subscription_);
  }
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;

 private:
  static void OnMessage(natsConnection* /*connection*/, natsSubscription* /*subscription*/,
                        natsMsg* message, void* closure) {
    auto& counter = *static_cast<AckCounter*>(closure);
    const natsStatus status = natsMsg_Ack(message, nullptr);
    natsMsg_Destroy(message);
    if (status != NATS_OK) {
      counter.failures.fetch_add(1);
      return;
    }
    if (counter.acked.fetch_add(1) + 1 == counter.target) counter.all_acked.Notify();
  }

  NatsPtr<natsConnection> connection_;
  NatsPtr<jsCtx> js_;
  natsSubscription* subscription_ = nullptr;
};

void CheckAcks(const AckCounter& counter) {
  if (counter.failures.load() > 0) {
    Die(absl::StrCat(counter.failures.load(), " natsMsg_Ack call(s) failed"));
  }
}

}  // namespace

// Publish acknowledgements the server refused or that timed out: libnats reports them only
// through this callback (on its own thread).
class JetStreamPeer::PublishErrors {
 public:
  static void OnError(jsCtx* /*js*/, jsPubAckErr* error, void* closure) {
    auto& self = *static_cast<PublishErrors*>(closure);
    absl::MutexLock lock(&self.mu_);
    if (self.count_++ == 0) {
      self.first_ = absl::StrCat(natsStatus_GetText(error->Err), " ",
                                 error->ErrText != nullptr ? error->ErrText : "",
                                 " [JetStream error ", static_cast<int>(error->ErrCode), "]");
    }
  }
  void CheckNone() {
    absl::MutexLock lock(&mu_);
    if (count_ > 0) Die(absl::StrCat(count_, " async publish(es) failed, the first: ", first_));
  }

 private:
  absl::Mutex mu_;
  int64_t count_ ABSL_GUARDED_BY(mu_) = 0;
  std::string first_ ABSL_GUARDED_BY(mu_);
};

std::string FindNatsServer() {
  std::string path = std::getenv("PATH") != nullptr ? std::getenv("PATH") : "";
  path += ":/usr/sbin:/usr/local/sbin";
  for (const absl::string_view dir : absl::StrSplit(path, ':', absl::SkipEmpty())) {
    std::string candidate = absl::StrCat(dir, "/nats-server");
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

std::unique_ptr<JetStreamPeer> JetStreamPeer::Start(const std::string& server_path,
                                                    const std::string& dir, size_t payload_bytes) {
  std::string version = ServerVersion(server_path, dir);
  const std::string port = std::to_string(spine::testing::FreeLoopbackPort());
  const std::string log = dir + "/nats-server.log";
  std::filesystem::create_directories(dir + "/jetstream");
  auto server = std::make_unique<ChildProcess>(
      server_path, std::map<std::string, std::string>{}, log,
      std::vector<std::string>{"-js", "-sd", dir + "/jetstream", "-a", "127.0.0.1", "-p", port,
                               "-n", "spine-bench"});
  std::unique_ptr<JetStreamPeer> peer(new JetStreamPeer(std::move(server),
                                                        absl::StrCat("nats://127.0.0.1:", port),
                                                        std::move(version), payload_bytes));

  // Accepting connections comes a moment before JetStream answers; both are waited for, bounded.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  for (;;) {
    if (peer->server_->WaitExit(absl::ZeroDuration())) {
      Die(absl::StrCat("nats-server exited at start; its log:\n", LogTail(log)));
    }
    natsConnection* probe = nullptr;
    if (natsConnection_ConnectTo(&probe, peer->url_.c_str()) == NATS_OK) {
      natsConnection_Destroy(probe);
      break;
    }
    if (absl::Now() > deadline) {
      Die(absl::StrCat("nats-server did not accept connections within 10 s; its log:\n",
                       LogTail(log)));
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  peer->connection_ = Connect(peer->url_);
  jsOptions options;
  Check(jsOptions_Init(&options), "jsOptions_Init");
  options.Wait = kApiWaitMs;
  options.PublishAsync.MaxPending = kMaxPendingPublishes;
  options.PublishAsync.StallWait = kStallWaitMs;
  options.PublishAsync.ErrHandler = &PublishErrors::OnError;
  options.PublishAsync.ErrHandlerClosure = peer->publish_errors_.get();
  peer->js_ = JetStream(peer->connection_.get(), &options);
  for (;;) {
    jsAccountInfo* info = nullptr;
    jsErrCode js_error{};
    const natsStatus status = js_GetAccountInfo(&info, peer->js_.get(), nullptr, &js_error);
    if (status == NATS_OK) {
      jsAccountInfo_Destroy(info);
      break;
    }
    if (absl::Now() > deadline) Check(status, "JetStream did not answer within 10 s", js_error);
    absl::SleepFor(absl::Milliseconds(50));
  }
  return peer;
}

JetStreamPeer::JetStreamPeer(std::unique_ptr<ChildProcess> server, std::string url,
                             std::string version, size_t payload_bytes)
    : server_(std::move(server)),
      url_(std::move(url)),
      version_(std::move(version)),
      payload_(payload_bytes, 'x'),
      publish_errors_(std::make_unique<PublishErrors>()) {}

JetStreamPeer::~JetStreamPeer() {
  js_.reset();
  connection_.reset();
  // Waits for libnats' own threads, so that nothing of it is left for LeakSanitizer to report.
  Check(nats_CloseAndWait(5000), "nats_CloseAndWait");
  // A clean shutdown flushes the file store; the ChildProcess's destructor kills and reaps it if
  // it does not stop in time.
  server_->Signal(SIGTERM);
  server_->WaitExit(absl::Seconds(5));
}

JetStreamPeer::Stream JetStreamPeer::NewStream() {
  ++runs_;
  Stream stream{.name = absl::StrCat("BENCH_", runs_), .subject = absl::StrCat("bench.", runs_)};
  jsStreamConfig config;
  Check(jsStreamConfig_Init(&config), "jsStreamConfig_Init");
  const char* subjects[] = {stream.subject.c_str()};
  config.Name = stream.name.c_str();
  config.Subjects = subjects;
  config.SubjectsLen = 1;
  config.Storage = js_FileStorage;
  jsStreamInfo* info = nullptr;
  jsErrCode js_error{};
  Check(js_AddStream(&info, js_.get(), &config, nullptr, &js_error), "js_AddStream " + stream.name,
        js_error);
  jsStreamInfo_Destroy(info);
  return stream;
}

void JetStreamPeer::DeleteStream(const std::string& stream) {
  jsErrCode js_error{};
  Check(js_DeleteStream(js_.get(), stream.c_str(), nullptr, &js_error), "js_DeleteStream " + stream,
        js_error);
}

void JetStreamPeer::AddConsumer(const std::string& stream, int max_ack_pending) {
  const std::string deliver_subject = absl::StrCat("deliver.", stream);
  jsConsumerConfig config;
  Check(jsConsumerConfig_Init(&config), "jsConsumerConfig_Init");
  config.Durable = kGroup;
  config.DeliverSubject = deliver_subject.c_str();
  config.DeliverGroup = kGroup;
  config.DeliverPolicy = js_DeliverAll;
  config.AckPolicy = js_AckExplicit;
  config.MaxAckPending = max_ack_pending;
  jsConsumerInfo* info = nullptr;
  jsErrCode js_error{};
  Check(js_AddConsumer(&info, js_.get(), stream.c_str(), &config, nullptr, &js_error),
        "js_AddConsumer on " + stream, js_error);
  jsConsumerInfo_Destroy(info);
}

int64_t JetStreamPeer::Unsettled(const std::string& stream) {
  jsConsumerInfo* info = nullptr;
  jsErrCode js_error{};
  Check(js_GetConsumerInfo(&info, js_.get(), stream.c_str(), kGroup, nullptr, &js_error),
        "js_GetConsumerInfo on " + stream, js_error);
  const int64_t unsettled = info->NumAckPending + static_cast<int64_t>(info->NumPending);
  jsConsumerInfo_Destroy(info);
  return unsettled;
}

uint64_t JetStreamPeer::Stored(const std::string& stream) {
  jsStreamInfo* info = nullptr;
  jsErrCode js_error{};
  Check(js_GetStreamInfo(&info, js_.get(), stream.c_str(), nullptr, &js_error),
        "js_GetStreamInfo " + stream, js_error);
  const uint64_t stored = info->State.Msgs;
  jsStreamInfo_Destroy(info);
  return stored;
}

void JetStreamPeer::PublishAsync(const std::string& subject) {
  const natsStatus status = js_PublishAsync(js_.get(), subject.c_str(), payload_.data(),
                                            static_cast<int>(payload_.size()), nullptr);
  // The message for a failure is built only then: this is the measured loop.
  if (status != NATS_OK) Check(status, "js_PublishAsync " + subject);
}

void JetStreamPeer::WaitPublished() {
  jsPubOptions options;
  Check(jsPubOptions_Init(&options), "jsPubOptions_Init");
  options.MaxWait = 120000;
  Check(js_PublishAsyncComplete(js_.get(), &options), "js_PublishAsyncComplete");
  publish_errors_->CheckNone();
}

JetStreamPeer::Drain JetStreamPeer::PublishAndDrain(int count, int credits) {
  const Stream stream = NewStream();
  AddConsumer(stream.name, credits);
  AckCounter counter;
  counter.target = count;
  Drain result{};
  {
    const Subscriber subscriber(url_, stream.name, stream.subject, counter);
    const absl::Time start = absl::Now();
    for (int i = 0; i < count; ++i) PublishAsync(stream.subject);
    WaitPublished();
    if (!counter.all_acked.WaitForNotificationWithTimeout(absl::Seconds(120))) {
      Die(absl::StrCat("drain timed out: ", counter.acked.load(), " of ", count, " acked"));
    }
    result.handled = absl::Now() - start;
    // The acks are sent without waiting for the server; settled is when it has them all.
    while (Unsettled(stream.name) > 0) absl::SleepFor(absl::Microseconds(200));
    result.settled = absl::Now() - start;
  }
  CheckAcks(counter);
  DeleteStream(stream.name);
  return result;
}

JetStreamPeer::Rates JetStreamPeer::Sustained(int consumers, int seconds, int credits) {
  const Stream stream = NewStream();
  // MaxAckPending bounds the consumer as a whole: each subscriber's share is the bus's credits.
  AddConsumer(stream.name, credits * consumers);
  AckCounter counter;
  Rates rates{};
  {
    std::vector<std::unique_ptr<Subscriber>> subscribers;
    subscribers.reserve(consumers);
    for (int i = 0; i < consumers; ++i) {
      subscribers.push_back(
          std::make_unique<Subscriber>(url_, stream.name, stream.subject, counter));
    }
    std::atomic<bool> stop{false};
    std::thread producer([&] {
      while (!stop.load()) PublishAsync(stream.subject);
    });
    absl::SleepFor(absl::Seconds(1));  // warm-up
    const int64_t acked_before = counter.acked.load();
    const uint64_t stored_before = Stored(stream.name);
    const absl::Time start = absl::Now();
    absl::SleepFor(absl::Seconds(seconds));
    const uint64_t stored_after = Stored(stream.name);
    const double elapsed = absl::ToDoubleSeconds(absl::Now() - start);
    const int64_t acked_during = counter.acked.load() - acked_before;
    stop = true;
    producer.join();
    WaitPublished();
    rates.backlog = static_cast<int64_t>(Stored(stream.name)) - counter.acked.load();
    rates.acked_per_second = static_cast<double>(acked_during) / elapsed;
    rates.published_per_second = static_cast<double>(stored_after - stored_before) / elapsed;
    if (acked_during <= 0 || stored_after <= stored_before) {
      Die(absl::StrCat("sustained run with ", consumers, " consumer(s): stored ",
                       stored_after - stored_before, ", acked ", acked_during));
    }
  }
  CheckAcks(counter);
  DeleteStream(stream.name);
  return rates;
}

}  // namespace spine::bench
