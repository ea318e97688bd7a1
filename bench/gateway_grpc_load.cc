// gateway_grpc_load: the direct-gRPC half of bench/gateway. Keeps CONNECTIONS GetThought calls
// in flight against spine-storage (closed loop: each connection sends its next call as soon as
// the previous one answers, as wrk does over keep-alive HTTP), discards a warm-up, then records
// every call's latency for a fixed duration and prints one line of figures:
//
//   requests=N seconds=S rps=R p50_ms=X p99_ms=Y raw_p50_ms=X' raw_p99_ms=Y' errors=E
//
// p50/p99 are computed exactly as wrk computes the HTTP half's (see WrkPercentilesMs), so the two
// lines of bench/gateway compare like with like; raw_* are the plain percentiles of the calls.
//
//   gateway_grpc_load ADDRESS TOKEN_FILE THOUGHT_ID [CONNECTIONS=64] [WARMUP_S=2] [DURATION_S=10]
//
// Each connection is its own channel with its own subchannel (its own HTTP/2 connection), the
// gRPC counterpart of wrk's separate TCP connections. Calls use the callback API, so the
// load needs no thread per connection; the latency samples of a connection are only touched by
// that connection's callback chain, which runs one callback at a time.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "libs/rpc/caller.h"
#include "libs/rpc/channel.h"
#include "spine/v1/storage.grpc.pb.h"

namespace {

using SteadyClock = std::chrono::steady_clock;

// What every connection shares: the measurement window and the error tally.
struct Run {
  SteadyClock::time_point measure_from;
  SteadyClock::time_point measure_until;
  spine::rpc::Caller caller;
  absl::BlockingCounter stopped;
  std::atomic<int64_t> errors{0};
  absl::Mutex mu;
  std::string first_error ABSL_GUARDED_BY(mu);

  Run(SteadyClock::time_point from, SteadyClock::time_point until, std::string token,
      int connections)
      : measure_from(from), measure_until(until), stopped(connections) {
    caller.bearer_token = std::move(token);
  }
};

// One connection: a channel and the single call it has in flight.
class Connection {
 public:
  Connection(const std::string& address, int64_t thought_id, Run& run)
      : stub_(spine::v1::ThoughtService::NewStub(MakeOwnChannel(address))), run_(run) {
    request_.set_id(thought_id);
  }

  // Starts the loop; it ends (and counts `run.stopped` down) at `run.measure_until`.
  void Start() { Send(); }

  const std::vector<int64_t>& latencies_ns() const { return latencies_ns_; }

 private:
  static std::shared_ptr<grpc::Channel> MakeOwnChannel(const std::string& address) {
    grpc::ChannelArguments args;
    // Channels with equal arguments share subchannels (and so one TCP connection) through the
    // global pool; a local pool gives this channel a connection of its own.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
  }

  void Send() {
    context_ = spine::rpc::MakeClientContext(absl::Seconds(10), &run_.caller);
    reply_.Clear();
    sent_ = SteadyClock::now();
    stub_->async()->GetThought(context_.get(), &request_, &reply_,
                               [this](const grpc::Status& status) { OnDone(status); });
  }

  void OnDone(const grpc::Status& status) {
    const SteadyClock::time_point now = SteadyClock::now();
    if (!status.ok()) {
      ++run_.errors;
      const absl::MutexLock lock(&run_.mu);
      if (run_.first_error.empty()) run_.first_error = status.error_message();
    } else if (sent_ >= run_.measure_from && now <= run_.measure_until) {
      latencies_ns_.push_back(
          std::chrono::duration_cast<std::chrono::nanoseconds>(now - sent_).count());
    }
    if (now >= run_.measure_until) {
      run_.stopped.DecrementCount();  // last touch of this object by the callback chain
      return;
    }
    Send();
  }

  std::unique_ptr<spine::v1::ThoughtService::Stub> stub_;
  Run& run_;
  spine::v1::GetThoughtRequest request_;
  spine::v1::Thought reply_;
  std::unique_ptr<grpc::ClientContext> context_;
  SteadyClock::time_point sent_;
  std::vector<int64_t> latencies_ns_;
};

// Nearest-rank percentile of sorted samples, in milliseconds.
double PercentileMs(const std::vector<int64_t>& sorted, double q) {
  const auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return static_cast<double>(sorted[std::max<size_t>(rank, 1) - 1]) / 1e6;
}

// The p50 and p99, in milliseconds, that wrk 4.1 would report for these samples (wrk's
// src/stats.c): a histogram in whole microseconds, then its coordinated-omission correction
// (stats_correct) — with E the mean time between one connection's requests, a request that took
// L >= 2E also counts as L-E, L-2E, ... down to just above E, the requests that connection would
// have sent meanwhile had it not been waiting — then its rank, round(p/100 * count + 0.5).
std::pair<double, double> WrkPercentilesMs(const std::vector<int64_t>& sorted_ns, int connections,
                                           int duration_s) {
  const int64_t max_us = sorted_ns.back() / 1000;
  std::vector<uint64_t> histogram(static_cast<size_t>(max_us) + 1);
  for (const int64_t ns : sorted_ns) ++histogram[static_cast<size_t>(ns / 1000)];
  uint64_t count = sorted_ns.size();
  const auto per_connection = static_cast<int64_t>(sorted_ns.size()) / connections;
  if (per_connection > 0) {
    const int64_t expected_us = int64_t{duration_s} * 1'000'000 / per_connection;
    for (int64_t n = expected_us * 2; n <= max_us; ++n) {
      const uint64_t at_n = histogram[static_cast<size_t>(n)];
      for (int64_t m = n - expected_us; at_n > 0 && m > expected_us; m -= expected_us) {
        histogram[static_cast<size_t>(m)] += at_n;
        count += at_n;
      }
    }
  }
  auto percentile_ms = [&](double p) {
    const auto rank =
        static_cast<uint64_t>(std::llround(p / 100.0 * static_cast<double>(count) + 0.5));
    uint64_t total = 0;
    for (size_t us = 0; us < histogram.size(); ++us) {
      total += histogram[us];
      if (total >= rank) return static_cast<double>(us) / 1000.0;
    }
    return static_cast<double>(max_us) / 1000.0;
  };
  return {percentile_ms(50), percentile_ms(99)};
}

int Usage() {
  std::fprintf(stderr,
               "usage: gateway_grpc_load ADDRESS TOKEN_FILE THOUGHT_ID [CONNECTIONS=64] "
               "[WARMUP_S=2] [DURATION_S=10]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4 || argc > 7) return Usage();
  const std::string address = argv[1];
  std::ifstream token_in(argv[2]);
  std::stringstream token;
  token << token_in.rdbuf();
  const int64_t thought_id = std::atoll(argv[3]);
  const int connections = argc > 4 ? std::atoi(argv[4]) : 64;
  const int warmup_s = argc > 5 ? std::atoi(argv[5]) : 2;
  const int duration_s = argc > 6 ? std::atoi(argv[6]) : 10;
  if (!token_in || thought_id <= 0 || connections < 1 || warmup_s < 0 || duration_s < 1) {
    return Usage();
  }

  const SteadyClock::time_point from = SteadyClock::now() + std::chrono::seconds(warmup_s);
  Run run(from, from + std::chrono::seconds(duration_s),
          std::string(absl::StripAsciiWhitespace(token.str())), connections);
  std::vector<std::unique_ptr<Connection>> pool;
  pool.reserve(connections);
  for (int i = 0; i < connections; ++i) {
    pool.push_back(std::make_unique<Connection>(address, thought_id, run));
  }
  for (auto& connection : pool) connection->Start();
  run.stopped.Wait();

  std::vector<int64_t> all;
  for (const auto& connection : pool) {
    all.insert(all.end(), connection->latencies_ns().begin(), connection->latencies_ns().end());
  }
  std::sort(all.begin(), all.end());
  const int64_t errors = run.errors.load();
  {
    const absl::MutexLock lock(&run.mu);
    if (errors > 0) std::fprintf(stderr, "GetThought: first error: %s\n", run.first_error.c_str());
  }
  if (all.empty()) {
    std::fprintf(stderr, "GetThought: no successful call in the measurement window\n");
    std::fflush(stderr);
    std::_Exit(1);
  }
  const auto [p50_ms, p99_ms] = WrkPercentilesMs(all, connections, duration_s);
  std::printf(
      "requests=%zu seconds=%d rps=%.1f p50_ms=%.3f p99_ms=%.3f raw_p50_ms=%.3f raw_p99_ms=%.3f "
      "errors=%lld\n",
      all.size(), duration_s, static_cast<double>(all.size()) / duration_s, p50_ms, p99_ms,
      PercentileMs(all, 0.50), PercentileMs(all, 0.99), static_cast<long long>(errors));
  std::fflush(stdout);
  // gRPC 1.51 destroys its shared callback completion queue with the last channel that used it,
  // and doing so just after a callback returned races that queue's thread (see
  // tests/integration/constellation.cc). The figures are out; end without tearing the
  // channels down.
  std::_Exit(errors > 0 ? 1 : 0);
}
