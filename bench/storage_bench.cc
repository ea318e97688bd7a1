// bench/storage: what spine-storage costs and sustains on this machine. Prints figures, judged by
// reading them; it exits non-zero when a call fails.
//
//   storage_bench BINARY_DIR [ROWS=100000] [SECONDS_PER_LOAD_STEP=5]
//
//   1. raw inserts/s through SqliteAdapter (the same statements, no gRPC) — the baseline: from one
//      writer (a fsynced commit each), then from 16 at once (group commit shares the commits)
//   2. CreateThought over gRPC at 1, 8 and 64 concurrent clients: throughput, p50, p99
//   3. ListThoughts page (50) and search p50/p99 with 100 000 thoughts in the table
#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "bench/bench_support.h"
#include "libs/auth/ed25519_keys.h"
#include "libs/auth/jwt.h"
#include "libs/core/clock.h"
#include "libs/rpc/channel.h"
#include "libs/rpc/health_client.h"
#include "services/storage/sqlite/sqlite_adapter.h"
#include "spine/v1/storage.grpc.pb.h"
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

const char* kWords[] = {"alpha", "bravo",  "charlie", "delta", "echo", "foxtrot",  "golf",  "hotel",
                        "india", "juliet", "kilo",    "lima",  "mike", "november", "oscar", "papa"};

std::string TextFor(int i) {
  return std::string(kWords[i % 16]) + " " + kWords[(i / 16) % 16] + " " + kWords[(i / 256) % 16] +
         " thought number " + std::to_string(i);
}

spine::storage::Thought ThoughtFor(int i) {
  spine::storage::Thought thought;
  thought.user_id = 1;
  thought.text = TextFor(i);
  thought.tags = {kWords[i % 16]};
  thought.create_micros = thought.update_micros = 1'700'000'000'000'000 + i;
  return thought;
}

// Inserts rows [first, end) through `adapter` from `writers` threads at once; returns rows/s.
// One writer is one transaction (one fsync) per row; with several, GroupCommit shares them.
double RawInserts(spine::storage::SqliteAdapter& adapter, int first, int end, int writers) {
  std::atomic<int> next{first};
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  threads.reserve(writers);
  const absl::Time start = absl::Now();
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&] {
      for (int i = next++; i < end && !failed; i = next++) {
        if (!adapter.InsertThought(ThoughtFor(i)).ok()) failed = true;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  if (failed) {
    std::fprintf(stderr, "raw insert failed\n");
    std::exit(1);
  }
  return (end - first) / absl::ToDoubleSeconds(absl::Now() - start);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string binary_dir = argc > 1 ? argv[1] : "build/release";
  const int table_rows = argc > 2 ? std::atoi(argv[2]) : 100000;
  const int seconds = argc > 3 ? std::atoi(argv[3]) : 5;
  if (table_rows < 1 || seconds < 1) {
    std::fprintf(stderr, "usage: storage_bench BINARY_DIR [ROWS] [SECONDS_PER_LOAD_STEP]\n");
    return 2;
  }
  TempDir dir;
  const std::string data_dir = dir.path() + "/data";
  std::filesystem::create_directories(data_dir);

  // 1. Baseline, and the 100 000-row table the read figures use: the first rows from one writer
  // (every insert its own fsynced commit), the rest from 16 at once (group commit).
  {
    auto adapter = spine::storage::SqliteAdapter::Open(data_dir + "/spine.db", 1);
    if (!adapter.ok()) {
      std::fprintf(stderr, "open: %s\n", std::string(adapter.status().message()).c_str());
      return 1;
    }
    const int single_rows = std::min(table_rows, 2000);
    const double single = RawInserts(**adapter, 0, single_rows, 1);
    std::printf("raw SqliteAdapter inserts,  1 writer (a commit each): %7.0f/s over %d rows\n",
                single, single_rows);
    if (table_rows > single_rows) {
      const double grouped = RawInserts(**adapter, single_rows, table_rows, 16);
      std::printf("raw SqliteAdapter inserts, 16 writers (group commit): %7.0f/s over %d rows\n",
                  grouped, table_rows - single_rows);
    }
  }

  auto keys = spine::GenerateEd25519PemPair();
  const std::string public_key = dir.WriteFile("jwt_public.pem", keys->second);
  const int port = spine::testing::FreeLoopbackPort();
  const std::string address = "127.0.0.1:" + std::to_string(port);
  ChildProcess storage(binary_dir + "/services/storage/spine-storage",
                       {{"SPINE_DEV_MODE", "0"},
                        {"SPINE_LOG_LEVEL", "warn"},
                        {"SPINE_DATA_DIR", data_dir},
                        {"SPINE_JWT_PUBLIC_KEY_FILE", public_key},
                        {"SPINE_PAGE_TOKEN_KEY", std::string(64, 'k')},
                        {"SPINE_STORAGE_ADDR", address},
                        {"SPINE_ENV_FILE", dir.WriteFile("empty.env", "")}},
                       dir.path() + "/storage.log");
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
    std::fprintf(stderr, "spine-storage did not become healthy; its log:\n%s\n",
                 spine::bench::LogTail(dir.path() + "/storage.log").c_str());
    return 1;
  }
  auto key = spine::Ed25519PrivateKey::FromPem(keys->first);
  spine::JwtSigner signer(std::move(*key), spine::RealClock::Instance());
  const std::string token = "Bearer " + *signer.Sign("1", "bench", "user");
  const std::string other_token = "Bearer " + *signer.Sign("2", "bench2", "user");

  // 2. Creates over gRPC (user 2, so the 100 000-row user's figures stay as measured).
  for (int clients : {1, 8, 64}) {
    const absl::Duration run_for = absl::Seconds(seconds);
    std::vector<std::vector<absl::Duration>> latencies(clients);
    std::vector<std::thread> threads;
    threads.reserve(clients);
    std::atomic<int64_t> done{0};
    const absl::Time start = absl::Now();
    for (int c = 0; c < clients; ++c) {
      threads.emplace_back([&, c] {
        // Each client has its own channel (its own HTTP/2 connection), like separate callers.
        auto stub = spine::v1::ThoughtService::NewStub(spine::rpc::MakeChannel(address, 4 << 20));
        spine::v1::CreateThoughtRequest request;
        request.set_text("bench thought from client " + std::to_string(c));
        request.add_tags("bench");
        while (absl::Now() - start < run_for) {
          auto context = spine::rpc::MakeClientContext(absl::Seconds(10));
          context->AddMetadata("authorization", other_token);
          spine::v1::Thought reply;
          const absl::Time t0 = absl::Now();
          const grpc::Status status = stub->CreateThought(context.get(), request, &reply);
          latencies[c].push_back(absl::Now() - t0);
          if (!status.ok()) {
            std::fprintf(stderr, "create: %s\n", status.error_message().c_str());
            std::exit(1);
          }
          ++done;
        }
      });
    }
    for (auto& thread : threads) thread.join();
    const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
    std::vector<absl::Duration> all;
    for (auto& per_client : latencies) all.insert(all.end(), per_client.begin(), per_client.end());
    const Percentiles p = Summarize(all);
    std::printf(
        "CreateThought over gRPC, %2d clients: %7.0f/s  p50 %.2f ms  p99 %.2f ms  (%lld calls)\n",
        clients, done.load() / seconds, p.p50_ms, p.p99_ms, static_cast<long long>(done.load()));
  }

  // 3. Reads with the big table.
  auto stub = spine::v1::ThoughtService::NewStub(spine::rpc::MakeChannel(address, 4 << 20));
  auto measure = [&](const char* label, auto make_request) {
    std::vector<absl::Duration> samples;
    for (int i = 0; i < 500; ++i) {
      spine::v1::ListThoughtsRequest request = make_request(i);
      auto context = spine::rpc::MakeClientContext(absl::Seconds(10));
      context->AddMetadata("authorization", token);
      spine::v1::ListThoughtsResponse response;
      const absl::Time t0 = absl::Now();
      const grpc::Status status = stub->ListThoughts(context.get(), request, &response);
      samples.push_back(absl::Now() - t0);
      if (!status.ok() || response.thoughts_size() == 0) {
        std::fprintf(stderr, "%s: %s (%d results)\n", label, status.error_message().c_str(),
                     response.thoughts_size());
        std::exit(1);
      }
    }
    const Percentiles p = Summarize(samples);
    std::printf("%-52s p50 %.2f ms  p99 %.2f ms\n", label, p.p50_ms, p.p99_ms);
  };
  // The page after half the table (after 50 000 rows of the default 100 000).
  const int deep_pages = table_rows / 2 / 500;
  std::string deep_token;
  {
    spine::v1::ListThoughtsRequest request;
    request.set_page_size(500);
    for (int page = 0; page < deep_pages; ++page) {
      auto context = spine::rpc::MakeClientContext(absl::Seconds(10));
      context->AddMetadata("authorization", token);
      spine::v1::ListThoughtsResponse response;
      const grpc::Status status = stub->ListThoughts(context.get(), request, &response);
      if (!status.ok()) {
        std::fprintf(stderr, "paging: %s\n", status.error_message().c_str());
        return 1;
      }
      request.set_page_token(response.next_page_token());
    }
    deep_token = request.page_token();
  }
  std::printf("with %d thoughts for one user:\n", table_rows);
  measure("  ListThoughts, first page of 50", [](int) { return spine::v1::ListThoughtsRequest(); });
  measure(absl::StrFormat("  ListThoughts, page of 50 after %d rows", deep_pages * 500).c_str(),
          [&](int) {
            spine::v1::ListThoughtsRequest request;
            request.set_page_token(deep_token);
            return request;
          });
  measure("  ListThoughts, tag filter (1/16 of rows)", [](int i) {
    spine::v1::ListThoughtsRequest request;
    request.set_tag(kWords[i % 16]);
    return request;
  });
  measure("  search, two words", [](int i) {
    spine::v1::ListThoughtsRequest request;
    request.set_query(std::string(kWords[i % 16]) + " " + kWords[(i + 3) % 16]);
    return request;
  });
  measure("  search, prefix", [](int i) {
    spine::v1::ListThoughtsRequest request;
    request.set_query(std::string(kWords[i % 16]).substr(0, 3) + "*");
    return request;
  });
  measure("  search, rare word (one row)", [&](int i) {
    spine::v1::ListThoughtsRequest request;
    request.set_query(std::to_string((i * 7919) % table_rows));
    return request;
  });
  storage.Signal(SIGTERM);
  storage.WaitExit(absl::Seconds(10));
  return 0;
}
