// bench/bus: what the event bus costs beside plain gRPC on this machine. Prints figures; it is
// not a pass/fail test (run it through the bench/bus script, which builds the release binaries).
//
//   1. publish + drain N messages through spine-tasks (one producer writing one message per
//      PublishStream request, one libs/bus Consumer acking each), beside N sequential unary gRPC
//      round trips and N messages echoed over a raw bidirectional gRPC stream, and the ratios;
//      beside them, the same N through NATS JetStream (jetstream_peer.h: Debian's nats-server, file
//      storage, async publish, a push consumer acking each), with issue 19's target: the bus's
//      publish + drain <= JetStream's;
//   2. sustained publish + ack throughput with 1 and 4 consumers, the bus's beside JetStream's,
//      with the target: the bus's acked/s >= JetStream's.
//
// Each figure of part 1 is the median of 5 runs, interleaved. spine-tasks, the echo server and
// nats-server each run as a child process, so every figure crosses the same loopback TCP between
// two processes. The echo server is this binary started again with BUS_BENCH_ECHO_ADDR set.
// Without nats-server the JetStream figures are skipped (with a line saying so), except under
// CI=true, where that is a failure.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "bench/bench_support.h"
#include "bench/jetstream_peer.h"
#include "bus_echo.grpc.pb.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/server_builder.h"
#include "libs/auth/ed25519_keys.h"
#include "libs/auth/jwt.h"
#include "libs/bus/consumer.h"
#include "libs/bus/publisher.h"
#include "libs/core/clock.h"
#include "libs/rpc/channel.h"
#include "libs/rpc/health_client.h"
#include "spine/v1/tasks.grpc.pb.h"
#include "tests/support/child_process.h"

namespace {

using spine::bench::EchoMessage;
using spine::testing::ChildProcess;
using spine::testing::TempDir;

constexpr size_t kPayloadBytes = 128;
constexpr int64_t kMaxMessageBytes = 4 << 20;
constexpr int kRounds = 5;
// Unacked messages a consumer may hold: the bus Consumer's credits, JetStream's MaxAckPending.
constexpr int kCredits = 256;

// ---------------------------------------------------------------------------------------------
// The echo server (child process).

// Echoes each message as it is read; reads and writes overlap, as the bus's Subscribe stream's
// do, so the baseline is not held back by a read-write-read lockstep.
class EchoStreamReactor final : public grpc::ServerBidiReactor<EchoMessage, EchoMessage> {
 public:
  EchoStreamReactor() { StartRead(&incoming_); }

  void OnReadDone(bool ok) override {
    bool write = false;
    grpc::WriteOptions options;
    {
      absl::MutexLock lock(&mu_);
      if (!ok) {
        reads_done_ = true;
      } else {
        queue_.push_back(incoming_);
        write = !writing_;
        writing_ = writing_ || write;
        if (write) options = TakeNext();
      }
    }
    if (!ok) return MaybeFinish();
    if (write) StartWrite(&current_, options);
    StartRead(&incoming_);
  }

  void OnWriteDone(bool ok) override {
    bool write = false;
    grpc::WriteOptions options;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (ok && !queue_.empty()) {
        writing_ = true;
        write = true;
        options = TakeNext();
      }
    }
    if (write) return StartWrite(&current_, options);
    MaybeFinish();
  }

  void OnDone() override { delete this; }

 private:
  // The next echo to write, with a buffer hint when more wait behind it: the same write
  // coalescing the bus's Subscribe stream does, so the baseline is as good as the bus.
  grpc::WriteOptions TakeNext() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    current_ = std::move(queue_.front());
    queue_.pop_front();
    grpc::WriteOptions options;
    if (!queue_.empty()) options.set_buffer_hint();
    return options;
  }
  void MaybeFinish() {
    {
      absl::MutexLock lock(&mu_);
      if (!reads_done_ || writing_ || finished_) return;
      finished_ = true;
    }
    Finish(grpc::Status::OK);
  }

  EchoMessage incoming_;
  EchoMessage current_;
  absl::Mutex mu_;
  std::deque<EchoMessage> queue_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

class EchoService final : public spine::bench::Echo::CallbackService {
  grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* context, const EchoMessage* request,
                                  EchoMessage* response) override {
    *response = *request;
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  grpc::ServerBidiReactor<EchoMessage, EchoMessage>* Stream(
      grpc::CallbackServerContext* /*context*/) override {
    return new EchoStreamReactor();
  }
};

int ServeEcho(const std::string& address) {
  grpc::EnableDefaultHealthCheckService(true);
  EchoService service;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials());
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server) return 1;
  server->Wait();  // until the parent kills this process
  return 0;
}

// ---------------------------------------------------------------------------------------------
// The figures (parent process).

bool WaitHealthy(const std::string& address) {
  const spine::rpc::HealthClient health(spine::rpc::MakeChannel(address, kMaxMessageBytes));
  for (int attempt = 0; attempt < 100; ++attempt) {
    absl::Notification done;
    bool up = false;
    health.CheckAsync(absl::Milliseconds(500), [&](bool serving) {
      up = serving;
      done.Notify();
    });
    done.WaitForNotification();
    if (up) return true;
    absl::SleepFor(absl::Milliseconds(100));
  }
  return false;
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "bus_bench: %s\n", what.c_str());
  std::exit(1);
}

std::unique_ptr<grpc::ClientContext> ContextWithin(absl::Duration timeout) {
  return spine::rpc::MakeClientContext(timeout);
}

absl::Duration UnaryRoundTrips(spine::bench::Echo::Stub& stub, int count) {
  EchoMessage request;
  request.set_payload(std::string(kPayloadBytes, 'x'));
  const absl::Time start = absl::Now();
  for (int i = 0; i < count; ++i) {
    request.set_id(absl::StrCat("m", i));
    EchoMessage response;
    if (!stub.Unary(ContextWithin(absl::Seconds(5)).get(), request, &response).ok()) {
      Die("unary echo failed");
    }
  }
  return absl::Now() - start;
}

absl::Duration StreamEcho(spine::bench::Echo::Stub& stub, int count) {
  auto context = ContextWithin(absl::Seconds(120));
  auto stream = stub.Stream(context.get());
  const absl::Time start = absl::Now();
  std::thread writer([&] {
    EchoMessage message;
    message.set_payload(std::string(kPayloadBytes, 'x'));
    for (int i = 0; i < count; ++i) {
      message.set_id(absl::StrCat("m", i));
      if (!stream->Write(message)) return;
    }
    stream->WritesDone();
  });
  EchoMessage echoed;
  int received = 0;
  while (received < count && stream->Read(&echoed)) ++received;
  const absl::Duration elapsed = absl::Now() - start;
  writer.join();
  while (stream->Read(&echoed)) {
  }
  if (!stream->Finish().ok() || received != count) Die("stream echo failed");
  return elapsed;
}

std::vector<spine::bus::OutgoingMessage> Messages(const std::string& prefix, int count) {
  std::vector<spine::bus::OutgoingMessage> messages;
  messages.reserve(count);
  for (int i = 0; i < count; ++i) {
    messages.push_back({.id = absl::StrCat(prefix, "-", i),
                        .payload = std::string(kPayloadBytes, 'x'),
                        .headers = {},
                        .reply_to_delivery_id = {}});
  }
  return messages;
}

double MedianMs(std::vector<absl::Duration> runs) {
  std::sort(runs.begin(), runs.end());
  return absl::ToDoubleMilliseconds(runs[runs.size() / 2]);
}

// "min..max ms" of the runs.
std::string Range(const std::vector<absl::Duration>& runs) {
  const auto [min, max] = std::minmax_element(runs.begin(), runs.end());
  return absl::StrFormat("%.1f..%.1f ms", absl::ToDoubleMilliseconds(*min),
                         absl::ToDoubleMilliseconds(*max));
}

struct Bus {
  std::string address;
  std::string token;
};

spine::bus::ConsumerOptions ConsumerOptionsFor(const Bus& bus, const std::string& queue) {
  spine::bus::ConsumerOptions options;
  options.queue = queue;
  options.consumer_name = "bench";
  options.service_token = bus.token;
  options.concurrency = 1;
  options.credits = kCredits;
  return options;
}

int64_t InFlight(spine::v1::EventBus::Stub& stub, const Bus& bus, const std::string& queue) {
  auto context = ContextWithin(absl::Seconds(5));
  context->AddMetadata("authorization", "Bearer " + bus.token);
  spine::v1::GetQueueStatsResponse response;
  if (!stub.GetQueueStats(context.get(), {}, &response).ok()) Die("GetQueueStats failed");
  for (const spine::v1::QueueStats& stats : response.queues()) {
    if (stats.queue() == queue) return stats.in_flight() + stats.depth();
  }
  return 0;
}

struct DrainResult {
  absl::Duration handled;  // until the consumer's handler has seen every message
  absl::Duration settled;  // until the broker holds none of them (every ack arrived)
};

// One producer streams `count` messages (`chunk` per request) while one Consumer acks each.
DrainResult PublishAndDrain(const Bus& bus, const std::string& queue, int count, int chunk) {
  std::atomic<int> seen{0};
  absl::Notification all_seen;
  auto consumer = spine::bus::Consumer::Start(
      spine::rpc::MakeChannel(bus.address, kMaxMessageBytes), ConsumerOptionsFor(bus, queue),
      [&](const spine::bus::ReceivedMessage& /*message*/) {
        if (seen.fetch_add(1) + 1 == count) all_seen.Notify();
        return absl::OkStatus();
      });
  if (!consumer.ok()) Die(std::string(consumer.status().message()));
  if (!(*consumer)->WaitConnected(absl::Seconds(10))) Die("consumer did not connect");

  spine::bus::PublisherOptions publisher_options;
  publisher_options.service_token = bus.token;
  publisher_options.timeout = absl::Seconds(120);
  auto channel = spine::rpc::MakeChannel(bus.address, kMaxMessageBytes);
  spine::bus::Publisher publisher(channel, publisher_options);
  const std::vector<spine::bus::OutgoingMessage> messages = Messages(queue, count);
  auto stats_stub = spine::v1::EventBus::NewStub(channel);

  const absl::Time start = absl::Now();
  absl::StatusOr<spine::bus::Published> published = publisher.PublishBatch(queue, messages, chunk);
  if (!published.ok() || published->accepted != count) {
    Die(absl::StrCat("publish failed: ", published.status().ToString()));
  }
  if (!all_seen.WaitForNotificationWithTimeout(absl::Seconds(120))) Die("drain timed out");
  DrainResult result{.handled = absl::Now() - start, .settled = absl::ZeroDuration()};
  while (InFlight(*stats_stub, bus, queue) > 0) absl::SleepFor(absl::Microseconds(200));
  result.settled = absl::Now() - start;
  return result;
}

// As PublishAndDrain, but the consumer is a bare Subscribe stream that acks each delivery from
// its reading thread: what the broker costs without the client library's threads.
absl::Duration PublishAndDrainRaw(const Bus& bus, const std::string& queue, int count) {
  auto channel = spine::rpc::MakeChannel(bus.address, kMaxMessageBytes);
  auto stub = spine::v1::EventBus::NewStub(channel);
  auto context = ContextWithin(absl::Seconds(120));
  context->AddMetadata("authorization", "Bearer " + bus.token);
  auto stream = stub->Subscribe(context.get());
  spine::v1::SubscribeRequest start;
  start.mutable_start()->set_queue(queue);
  start.mutable_start()->set_credits(kCredits);
  if (!stream->Write(start)) Die("raw subscribe failed");
  spine::bus::PublisherOptions publisher_options;
  publisher_options.service_token = bus.token;
  publisher_options.timeout = absl::Seconds(120);
  spine::bus::Publisher publisher(spine::rpc::MakeChannel(bus.address, kMaxMessageBytes),
                                  publisher_options);
  const std::vector<spine::bus::OutgoingMessage> messages = Messages(queue, count);
  const absl::Time start_time = absl::Now();
  std::thread producer([&] {
    if (!publisher.PublishBatch(queue, messages, 1).ok()) Die("publish failed");
  });
  spine::v1::Delivery delivery;
  spine::v1::SubscribeRequest ack;
  for (int i = 0; i < count; ++i) {
    if (!stream->Read(&delivery)) Die("raw stream broke");
    ack.mutable_ack()->set_delivery_id(delivery.delivery_id());
    stream->Write(ack);
  }
  const absl::Duration elapsed = absl::Now() - start_time;
  producer.join();
  context->TryCancel();
  stream->Finish();
  return elapsed;
}

// Producers publish flat out (batches of 100) while `consumers` Consumers ack; the rates over
// `seconds` after a one-second warm-up. Returns the acked rate.
double Sustained(const Bus& bus, int consumers, int seconds) {
  const std::string queue = absl::StrCat("bench.sustained.", consumers);
  std::atomic<int64_t> acked{0};
  std::atomic<int64_t> published{0};
  std::vector<std::unique_ptr<spine::bus::Consumer>> running;
  for (int i = 0; i < consumers; ++i) {
    // Each consumer has its own channel (its own connection), as separate executors would.
    auto consumer = spine::bus::Consumer::Start(
        spine::rpc::MakeChannel(bus.address, kMaxMessageBytes), ConsumerOptionsFor(bus, queue),
        [&acked](const spine::bus::ReceivedMessage& /*message*/) {
          acked.fetch_add(1);
          return absl::OkStatus();
        });
    if (!consumer.ok()) Die(std::string(consumer.status().message()));
    if (!(*consumer)->WaitConnected(absl::Seconds(10))) Die("consumer did not connect");
    running.push_back(*std::move(consumer));
  }
  std::atomic<bool> stop{false};
  std::thread producer([&] {
    spine::bus::PublisherOptions options;
    options.service_token = bus.token;
    options.timeout = absl::Seconds(30);
    spine::bus::Publisher publisher(spine::rpc::MakeChannel(bus.address, kMaxMessageBytes),
                                    options);
    for (int batch = 0; !stop.load(); ++batch) {
      absl::StatusOr<spine::bus::Published> result =
          publisher.PublishBatch(queue, Messages(absl::StrCat("b", batch), 100), 100);
      if (!result.ok()) Die(absl::StrCat("publish failed: ", result.status().ToString()));
      published.fetch_add(result->accepted);
    }
  });
  absl::SleepFor(absl::Seconds(1));  // warm-up
  const int64_t acked_before = acked.load();
  const int64_t published_before = published.load();
  const absl::Time start = absl::Now();
  absl::SleepFor(absl::Seconds(seconds));
  const double elapsed = absl::ToDoubleSeconds(absl::Now() - start);
  const int64_t acked_during = acked.load() - acked_before;
  const int64_t published_during = published.load() - published_before;
  stop = true;
  producer.join();
  running.clear();
  // A bus that accepts nothing or delivers nothing is a failure, not a figure of zero.
  if (published_during <= 0 || acked_during <= 0) {
    Die(absl::StrCat("sustained run with ", consumers, " consumer(s): published ", published_during,
                     ", acked ", acked_during));
  }
  const double acked_per_second = static_cast<double>(acked_during) / elapsed;
  std::printf(
      "  bus,       %d consumer%s: %8.0f acked/s  (published %8.0f/s; backlog at the end %lld)\n",
      consumers, consumers == 1 ? " " : "s", acked_per_second,
      static_cast<double>(published_during) / elapsed,
      static_cast<long long>(published.load() - acked.load()));
  return acked_per_second;
}

double SustainedJetStream(spine::bench::JetStreamPeer& peer, int consumers, int seconds) {
  const spine::bench::JetStreamPeer::Rates rates = peer.Sustained(consumers, seconds, kCredits);
  std::printf(
      "  JetStream, %d consumer%s: %8.0f acked/s  (published %8.0f/s; backlog at the end %lld)\n",
      consumers, consumers == 1 ? " " : "s", rates.acked_per_second, rates.published_per_second,
      static_cast<long long>(rates.backlog));
  return rates.acked_per_second;
}

// "met" or "NOT MET", as the target lines print it.
const char* Verdict(bool met) { return met ? "met" : "NOT MET"; }

// The JetStream peer, or null when nats-server is not installed (a failure under CI=true).
std::unique_ptr<spine::bench::JetStreamPeer> StartJetStream(const std::string& dir) {
  const std::string server = spine::bench::FindNatsServer();
  if (server.empty()) {
    const char* ci = std::getenv("CI");
    if (ci != nullptr && std::string(ci) == "true") {
      Die("nats-server is not installed, and CI measures the bus against JetStream: install "
          "Debian's nats-server (scripts/install-deps)");
    }
    return nullptr;
  }
  std::filesystem::create_directories(dir);
  return spine::bench::JetStreamPeer::Start(server, dir, kPayloadBytes);
}

}  // namespace

int main(int argc, char** argv) {
  if (const char* echo_address = std::getenv("BUS_BENCH_ECHO_ADDR")) {
    return ServeEcho(echo_address);
  }
  const std::string binary_dir = argc > 1 ? argv[1] : "build/release";
  const int count = argc > 2 ? std::atoi(argv[2]) : 5000;
  const int seconds = argc > 3 ? std::atoi(argv[3]) : 5;
  if (count < 1 || seconds < 1) Die("usage: bus_bench BINARY_DIR [MESSAGES] [SECONDS]");

  TempDir dir;
  std::filesystem::create_directories(dir.path() + "/data");
  auto keys = spine::GenerateEd25519PemPair();
  if (!keys.ok()) Die("key generation failed");
  const std::string public_key = dir.WriteFile("jwt_public.pem", keys->second);
  auto private_key = spine::Ed25519PrivateKey::FromPem(keys->first);
  if (!private_key.ok()) Die("bad private key");
  const spine::JwtSigner signer(*std::move(private_key), spine::RealClock::Instance());

  Bus bus{.address = absl::StrCat("127.0.0.1:", spine::testing::FreeLoopbackPort()),
          // Queues other than the declared step queues are spine-tasks' own (tasks.proto).
          .token = *signer.Sign("tasks", "spine-tasks", "service")};
  ChildProcess tasks(binary_dir + "/services/tasks/spine-tasks",
                     {{"SPINE_DEV_MODE", "0"},
                      {"SPINE_LOG_LEVEL", "warn"},
                      {"SPINE_DATA_DIR", dir.path() + "/data"},
                      {"SPINE_JWT_PUBLIC_KEY_FILE", public_key},
                      // Outside dev mode spine-tasks refuses to start without its own token.
                      {"SPINE_SERVICE_TOKEN_FILE", dir.WriteFile("service_token", bus.token)},
                      {"SPINE_TASKS_ADDR", bus.address},
                      // The sustained run keeps a backlog; it must not hit the default bound.
                      {"SPINE_BUS_MAX_MESSAGES", "2000000"},
                      {"SPINE_BUS_MAX_BYTES", "1073741824"},
                      {"SPINE_ENV_FILE", dir.WriteFile("empty.env", "")}},
                     dir.path() + "/tasks.log");
  const std::string echo_address = absl::StrCat("127.0.0.1:", spine::testing::FreeLoopbackPort());
  ChildProcess echo(std::filesystem::read_symlink("/proc/self/exe").string(),
                    {{"BUS_BENCH_ECHO_ADDR", echo_address}}, dir.path() + "/echo.log");
  if (!WaitHealthy(bus.address)) {
    Die(absl::StrCat("spine-tasks did not become healthy; its log:\n",
                     spine::bench::LogTail(dir.path() + "/tasks.log")));
  }
  if (!WaitHealthy(echo_address)) {
    Die(absl::StrCat("the echo server did not become healthy; its log:\n",
                     spine::bench::LogTail(dir.path() + "/echo.log")));
  }

  const std::unique_ptr<spine::bench::JetStreamPeer> jetstream =
      StartJetStream(dir.path() + "/nats");

  auto echo_stub =
      spine::bench::Echo::NewStub(spine::rpc::MakeChannel(echo_address, kMaxMessageBytes));
  // Warm-up: connections, thread pools, allocator, the file store.
  UnaryRoundTrips(*echo_stub, 500);
  StreamEcho(*echo_stub, 500);
  PublishAndDrain(bus, "bench.warmup", 500, 1);
  if (jetstream) jetstream->PublishAndDrain(500, kCredits);

  // Each figure is the median of kRounds runs, interleaved so that a noisy moment on the
  // machine costs every figure alike.
  std::vector<absl::Duration> unary_runs;
  std::vector<absl::Duration> stream_runs;
  std::vector<absl::Duration> bus_runs;
  std::vector<absl::Duration> bus_settled_runs;
  std::vector<absl::Duration> batched_runs;
  std::vector<absl::Duration> raw_runs;
  std::vector<absl::Duration> jetstream_runs;
  std::vector<absl::Duration> jetstream_settled_runs;
  for (int round = 0; round < kRounds; ++round) {
    unary_runs.push_back(UnaryRoundTrips(*echo_stub, count));
    stream_runs.push_back(StreamEcho(*echo_stub, count));
    const DrainResult drain = PublishAndDrain(bus, absl::StrCat("bench.drain.", round), count, 1);
    bus_runs.push_back(drain.handled);
    bus_settled_runs.push_back(drain.settled);
    batched_runs.push_back(
        PublishAndDrain(bus, absl::StrCat("bench.batched.", round), count, 100).handled);
    raw_runs.push_back(PublishAndDrainRaw(bus, absl::StrCat("bench.raw.", round), count));
    if (jetstream) {
      const spine::bench::JetStreamPeer::Drain drain = jetstream->PublishAndDrain(count, kCredits);
      jetstream_runs.push_back(drain.handled);
      jetstream_settled_runs.push_back(drain.settled);
    }
  }
  const double unary_ms = MedianMs(unary_runs);
  const double stream_ms = MedianMs(stream_runs);
  const double bus_ms = MedianMs(bus_runs);
  const double batched_ms = MedianMs(batched_runs);
  std::printf("bench/bus: %d messages of %zu bytes, loopback, binaries of %s; median of %d runs\n",
              count, kPayloadBytes, binary_dir.c_str(), kRounds);
  std::printf("  unary gRPC round trips, sequential:   %8.1f ms  (%.1f us each)  [%s]\n", unary_ms,
              unary_ms * 1000 / count, Range(unary_runs).c_str());
  std::printf("  raw bidi stream echo:                 %8.1f ms  (%.0f msg/s)  [%s]\n", stream_ms,
              count / (stream_ms / 1000), Range(stream_runs).c_str());
  std::printf(
      "  bus publish + drain, 1 producer (one message per PublishStream request),\n"
      "  1 consumer (libs/bus Consumer, 256 credits) acking each:\n");
  std::printf("    all handled:                        %8.1f ms  (%.0f msg/s)  [%s]\n", bus_ms,
              count / (bus_ms / 1000), Range(bus_runs).c_str());
  std::printf("    all acks settled at the broker:     %8.1f ms\n", MedianMs(bus_settled_runs));
  std::printf("  the same with the producer batching 100 messages per request:\n");
  std::printf("    all handled:                        %8.1f ms  (%.0f msg/s)  [%s]\n", batched_ms,
              count / (batched_ms / 1000), Range(batched_runs).c_str());
  std::printf("  the same with a bare Subscribe stream acking from its reading thread:\n");
  std::printf("    all acked:                          %8.1f ms  [%s]\n", MedianMs(raw_runs),
              Range(raw_runs).c_str());
  if (jetstream) {
    const double jetstream_ms = MedianMs(jetstream_runs);
    std::printf(
        "  NATS JetStream (nats-server %s, file storage, async publish, push consumer acking\n"
        "  each, MaxAckPending %d):\n",
        jetstream->version().c_str(), kCredits);
    std::printf("    all handled, publishes acknowledged: %7.1f ms  (%.0f msg/s)  [%s]\n",
                jetstream_ms, count / (jetstream_ms / 1000), Range(jetstream_runs).c_str());
    std::printf("    all acks settled at the server:     %8.1f ms\n",
                MedianMs(jetstream_settled_runs));
  } else {
    std::printf(
        "  NATS JetStream: skipped, nats-server is not installed (Debian's nats-server, "
        "scripts/install-deps)\n");
  }
  const double unary_ratio = bus_ms / unary_ms;
  std::printf("  ratio bus / unary baseline:   %5.2f  (batched %4.2f)  plan's gate <= 2.0  -> %s\n",
              unary_ratio, batched_ms / unary_ms, Verdict(unary_ratio <= 2.0));
  std::printf("  ratio bus / stream baseline:  %5.2f  (batched %4.2f)  our target <= 1.5\n",
              bus_ms / stream_ms, batched_ms / stream_ms);
  if (jetstream) {
    const double jetstream_ms = MedianMs(jetstream_runs);
    std::printf(
        "  target: bus publish + drain <= JetStream:   bus %.1f ms vs JetStream %.1f ms  -> %s "
        "(%.2fx)\n",
        bus_ms, jetstream_ms, Verdict(bus_ms <= jetstream_ms), bus_ms / jetstream_ms);
  }

  const std::string jetstream_setup =
      jetstream ? absl::StrFormat(
                      "; JetStream: one\nasync publisher, a queue group of push subscribers on one "
                      "durable consumer, each on its\nown connection acking each, MaxAckPending "
                      "%d per subscriber",
                      kCredits)
                : "";
  std::printf(
      "sustained publish + ack, %d s each (bus producer: batches of 100 on PublishStream;\n"
      "bus consumers: libs/bus Consumer, 1 handler thread, %d credits each%s):\n",
      seconds, kCredits, jetstream_setup.c_str());
  const double bus_one = Sustained(bus, 1, seconds);
  const double jetstream_one = jetstream ? SustainedJetStream(*jetstream, 1, seconds) : 0;
  const double bus_four = Sustained(bus, 4, seconds);
  const double jetstream_four = jetstream ? SustainedJetStream(*jetstream, 4, seconds) : 0;
  if (jetstream) {
    for (const auto& [consumers, bus_rate, jetstream_rate] :
         {std::tuple{1, bus_one, jetstream_one}, std::tuple{4, bus_four, jetstream_four}}) {
      std::printf(
          "  target: sustained acked/s >= JetStream, %d consumer%s:   bus %.0f vs JetStream %.0f"
          "  -> %s (%.2fx)\n",
          consumers, consumers == 1 ? " " : "s", bus_rate, jetstream_rate,
          Verdict(bus_rate >= jetstream_rate), bus_rate / jetstream_rate);
    }
  }
  return 0;
}
