// bench/plugins: what a plugin invocation costs on this machine. Prints figures; it is not a
// pass/fail test (issue 6's targets — warm p50 <= 1 ms, >= 2 000/s with 16 callers, cold start
// <= 80 ms — are judged by reading them).
//
//   1. cold start: a fresh sandboxed worker spawned and its first hello-world answered
//      (Worker::Start + Invoke, in-process), p50/p99 over 50 spawns
//   2. bare `node -e` spawned per request (no sandbox, no harness), for comparison
//   3. warm hello-world over gRPC to a real spine-plugins at 1, 4 and 16 concurrent callers:
//      invocations/s, p50, p99
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "bench/bench_support.h"
#include "google/protobuf/util/json_util.h"
#include "libs/auth/ed25519_keys.h"
#include "libs/auth/jwt.h"
#include "libs/core/clock.h"
#include "libs/rpc/channel.h"
#include "libs/rpc/health_client.h"
#include "services/plugins/host/manifest.h"
#include "services/plugins/host/worker.h"
#include "spine/v1/plugins.grpc.pb.h"
#include "tests/support/child_process.h"

namespace {

using spine::testing::ChildProcess;
using spine::testing::TempDir;

struct Percentiles {
  double p50_ms = 0;
  double p99_ms = 0;
};

Percentiles Summarize(std::vector<absl::Duration> samples) {
  std::sort(samples.begin(), samples.end());
  auto at = [&](double q) {
    return absl::ToDoubleMilliseconds(samples[static_cast<size_t>(q * (samples.size() - 1))]);
  };
  return {at(0.50), at(0.99)};
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "plugins_bench: %s\n", what.c_str());
  std::exit(1);
}

void ColdStart(const std::string& plugins_dir) {
  absl::StatusOr<spine::plugins::LoadedPlugin> plugin =
      spine::plugins::LoadPlugin(plugins_dir + "/hello-world", spine::plugins::ManifestBounds{});
  if (!plugin.ok()) Die(std::string(plugin.status().message()));
  std::vector<absl::Duration> samples;
  for (int i = 0; i < 50; ++i) {
    const absl::Time t0 = absl::Now();
    auto worker = spine::plugins::Worker::Start(*plugin, spine::plugins::WorkerOptions{});
    if (!worker.ok()) Die(std::string(worker.status().message()));
    const spine::plugins::InvokeResult result =
        (*worker)->Invoke(R"({"name":"cold"})", absl::Now() + absl::Seconds(10), -1);
    samples.push_back(absl::Now() - t0);
    if (!result.output.ok()) Die(std::string(result.output.status().message()));
    if (i == 0) std::printf("sandbox layers: %s\n", (*worker)->layers().c_str());
  }
  const Percentiles p = Summarize(samples);
  std::printf(
      "cold start (sandboxed spawn + harness + first answer), 50 spawns: p50 %.1f ms  "
      "p99 %.1f ms\n",
      p.p50_ms, p.p99_ms);
}

void BareNode() {
  std::vector<absl::Duration> samples;
  const char* argv[] = {"/usr/bin/node", "-e",
                        "process.stdout.write(JSON.stringify({greeting: 'Hello, bare!'}))",
                        nullptr};
  for (int i = 0; i < 30; ++i) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    const absl::Time t0 = absl::Now();
    pid_t pid = 0;
    // posix_spawn takes char* const[]; node does not write to its argv.
    if (posix_spawn(&pid, argv[0], &actions, nullptr, const_cast<char* const*>(argv), environ) !=
        0) {
      Die("posix_spawn of node failed");
    }
    int status = 0;
    const pid_t reaped = waitpid(pid, &status, 0);
    samples.push_back(absl::Now() - t0);
    posix_spawn_file_actions_destroy(&actions);
    if (reaped != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) Die("node -e failed");
  }
  const Percentiles p = Summarize(samples);
  std::printf(
      "bare `node -e` per request (no sandbox), 30 spawns:        p50 %.1f ms  p99 %.1f ms\n",
      p.p50_ms, p.p99_ms);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string binary_dir = argc > 1 ? argv[1] : "build/release";
  const std::string plugins_dir = argc > 2 ? argv[2] : "plugins";
  const int seconds = argc > 3 ? std::atoi(argv[3]) : 5;

  ColdStart(plugins_dir);
  BareNode();

  TempDir dir;
  auto keys = spine::GenerateEd25519PemPair();
  if (!keys.ok()) Die("key generation failed");
  const std::string public_key = dir.WriteFile("jwt_public.pem", keys->second);
  auto key = spine::Ed25519PrivateKey::FromPem(keys->first);
  if (!key.ok()) Die("bad private key");
  const spine::JwtSigner signer(*std::move(key), spine::RealClock::Instance());
  // Outside dev mode spine-plugins refuses to start without its own token (subject "plugins").
  const std::string service_token_file =
      dir.WriteFile("service_token", *signer.Sign("plugins", "spine-plugins", "service"));
  const std::string address = "127.0.0.1:" + std::to_string(spine::testing::FreeLoopbackPort());
  ChildProcess plugins(binary_dir + "/services/plugins/spine-plugins",
                       {{"SPINE_DEV_MODE", "0"},
                        {"SPINE_LOG_LEVEL", "warn"},
                        {"SPINE_DATA_DIR", dir.path() + "/data"},
                        {"SPINE_JWT_PUBLIC_KEY_FILE", public_key},
                        {"SPINE_SERVICE_TOKEN_FILE", service_token_file},
                        {"SPINE_PLUGINS_DIR", plugins_dir},
                        {"SPINE_PLUGINS_ADDR", address},
                        {"SPINE_ENV_FILE", dir.WriteFile("empty.env", "")}},
                       dir.path() + "/plugins.log");
  const spine::rpc::HealthClient health(spine::rpc::MakeChannel(address, 4 << 20));
  bool up = false;
  for (int attempt = 0; attempt < 100 && !up; ++attempt) {
    absl::Notification done;
    health.CheckAsync(absl::Milliseconds(500), [&](bool serving) {
      up = serving;
      done.Notify();
    });
    done.WaitForNotification();
    if (!up) absl::SleepFor(absl::Milliseconds(100));
  }
  if (!up) {
    Die("spine-plugins did not become healthy; its log:\n" +
        spine::bench::LogTail(dir.path() + "/plugins.log"));
  }
  const std::string token = "Bearer " + *signer.Sign("1", "bench", "user");

  spine::v1::InvokePluginRequest request;
  request.set_name("hello-world");
  if (!google::protobuf::util::JsonStringToMessage(R"({"name":"bench"})", request.mutable_input())
           .ok()) {
    Die("bad input");
  }
  for (const int callers : {1, 4, 16}) {
    std::vector<std::vector<absl::Duration>> latencies(callers);
    std::vector<std::thread> threads;
    threads.reserve(callers);
    std::atomic<int64_t> done{0};
    std::atomic<int64_t> failed{0};
    const absl::Time start = absl::Now();
    for (int c = 0; c < callers; ++c) {
      threads.emplace_back([&, c] {
        // Each caller has its own channel (its own HTTP/2 connection), like separate clients.
        auto stub = spine::v1::PluginService::NewStub(spine::rpc::MakeChannel(address, 4 << 20));
        while (absl::Now() - start < absl::Seconds(seconds)) {
          auto context = spine::rpc::MakeClientContext(absl::Seconds(10));
          context->AddMetadata("authorization", token);
          spine::v1::InvokePluginResponse reply;
          const absl::Time t0 = absl::Now();
          const grpc::Status status = stub->InvokePlugin(context.get(), request, &reply);
          latencies[c].push_back(absl::Now() - t0);
          if (!status.ok()) {
            if (++failed == 1) std::fprintf(stderr, "invoke: %s\n", status.error_message().c_str());
            continue;
          }
          ++done;
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
    const double elapsed = absl::ToDoubleSeconds(absl::Now() - start);
    std::vector<absl::Duration> all;
    for (auto& per_caller : latencies) all.insert(all.end(), per_caller.begin(), per_caller.end());
    const Percentiles p = Summarize(all);
    std::printf(
        "warm hello-world over gRPC, %2d callers: %6.0f/s  p50 %.2f ms  p99 %.2f ms  (%lld ok, "
        "%lld failed)\n",
        callers, done.load() / elapsed, p.p50_ms, p.p99_ms, static_cast<long long>(done.load()),
        static_cast<long long>(failed.load()));
    // The figures of a service that fails calls measure the failure, not the service.
    if (failed.load() > 0 || done.load() == 0) Die("invocations failed");
  }
  return 0;
}
