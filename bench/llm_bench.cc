// llm_bench: what spine-llm's layers cost, and what its fairness looks like, on this machine.
// Prints, in one run:
//
//  1. The RunnerPool in-process over a zero-delay stub model: closed-loop callers (1, 16, 128),
//     each submitting its next job as soon as the last ends; jobs/s and latency p50/p99.
//  2. The same through the real spine-llm binary over gRPC (with spine-storage beside it, so
//     every prompt is really audited): generations/s, p50/p99, and the mean queueWaitMs the
//     service reports. The difference from (1) is the price of gRPC, auth, validation, audit.
//  3. Fairness: a model with one runner and a 50 ms stub reply; user A keeps 30 prompts queued
//     while user B sends 20 prompts one after another. B's queueWaitMs (p50, max) beside the
//     job's service time and A's mean wait.
//  4. Starvation: stub-slow's runner busy; queueWaitMs of 50 prompts to another model.
//
//   llm_bench BINARY_DIR [SECONDS_PER_RUN=3]
//
// Exits non-zero when a generation fails: the figures of failing calls measure nothing.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "libs/auth/jwt.h"
#include "libs/core/clock.h"
#include "libs/core/scheduler.h"
#include "libs/rpc/channel.h"
#include "services/llm/backends/stub_backend.h"
#include "services/llm/runner_pool.h"
#include "spine/v1/common.grpc.pb.h"
#include "spine/v1/llm.grpc.pb.h"
#include "tests/integration/constellation.h"
#include "tests/support/child_process.h"

namespace {

using spine::llm::JobRequest;
using spine::llm::JobResult;
using spine::llm::RunnerPool;

struct Figures {
  int64_t done = 0;
  int64_t errors = 0;
  double seconds = 0;
  std::vector<double> latencies_ms;
  double queue_wait_sum_ms = 0;
};

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const auto index = static_cast<size_t>(p * static_cast<double>(values.size() - 1));
  return values[index];
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "llm_bench: %s\n", what.c_str());
  std::exit(1);
}

void Print(const char* what, int callers, const Figures& figures) {
  std::printf(
      "%-22s callers=%-4d per_s=%-9.0f p50_ms=%-7.3f p99_ms=%-7.3f errors=%lld "
      "mean_queue_wait_ms=%.3f\n",
      what, callers, static_cast<double>(figures.done) / figures.seconds,
      Percentile(figures.latencies_ms, 0.50), Percentile(figures.latencies_ms, 0.99),
      static_cast<long long>(figures.errors),
      figures.queue_wait_sum_ms / static_cast<double>(std::max<int64_t>(figures.done, 1)));
}

// A closed loop of `callers`, each starting its next request when the last ends, for `duration`.
// `start(caller, done)` begins one request and calls done(ok, queue_wait_ms) once.
template <typename Start>
Figures ClosedLoop(int callers, absl::Duration duration, Start start) {
  Figures figures;
  absl::Mutex mu;
  const absl::Time end = absl::Now() + duration;
  absl::BlockingCounter stopped(callers);
  struct Caller {
    std::function<void()> next;
  };
  std::vector<Caller> loops(callers);
  const absl::Time began = absl::Now();
  for (int i = 0; i < callers; ++i) {
    loops[i].next = [&, i] {
      const absl::Time sent = absl::Now();
      start(i, [&, i, sent](bool ok, double queue_wait_ms) {
        const absl::Time now = absl::Now();
        {
          absl::MutexLock lock(&mu);
          if (ok) {
            ++figures.done;
            figures.latencies_ms.push_back(absl::ToDoubleMilliseconds(now - sent));
            figures.queue_wait_sum_ms += queue_wait_ms;
          } else {
            ++figures.errors;
          }
        }
        if (now < end) {
          loops[i].next();
        } else {
          stopped.DecrementCount();
        }
      });
    };
  }
  for (int i = 0; i < callers; ++i) loops[i].next();
  stopped.Wait();
  figures.seconds = absl::ToDoubleSeconds(absl::Now() - began);
  return figures;
}

void InProcess(absl::Duration duration) {
  const spine::Clock& clock = spine::RealClock::Instance();
  spine::ThreadScheduler scheduler(clock);
  spine::llm::StubBackend backend(spine::llm::StubTimings{}, scheduler, clock);
  spine::llm::ModelConfig model{.name = "stub", .backend = "stub", .backend_model = "stub"};
  model.max_concurrency = 64;
  model.queue_limit = 1000;
  auto pool = RunnerPool::Create({model}, {{"stub", &backend}}, scheduler, clock);
  if (!pool.ok()) std::abort();
  for (int callers : {1, 16, 128}) {
    Figures figures = ClosedLoop(callers, duration, [&](int caller, auto done) {
      JobRequest job{.model = "stub", .user_id = std::to_string(caller % 8)};
      job.params.messages = {{"user", "tell me about fairness"}};
      job.on_done = [done](const JobResult& result) {
        done(result.result.ok(), absl::ToDoubleMilliseconds(result.queue_wait));
      };
      if (!(*pool)->Submit(std::move(job)).ok()) done(false, 0);
    });
    Print("in-process RunnerPool", callers, figures);
    if (figures.errors > 0 || figures.done == 0) Die("in-process jobs failed");
  }
}

class LlmClient {
 public:
  explicit LlmClient(const spine::testing::Constellation& stack)
      : stub_(spine::v1::LlmService::NewStub(
            spine::rpc::MakeChannel(stack.GrpcAddress("llm"), 4 << 20))) {
    spine::JwtSigner signer(*spine::Ed25519PrivateKey::FromPem(stack.private_key_pem()),
                            spine::RealClock::Instance());
    for (int user = 1; user <= 8; ++user) {
      tokens_.push_back("Bearer " + *signer.Sign(std::to_string(user), "bench", "user"));
    }
  }

  // One Generate by `user` (1..8); done(ok, queue_wait_ms) on gRPC's thread.
  template <typename Done>
  void Generate(int user, const std::string& model, Done done) {
    struct Call {
      grpc::ClientContext context;
      spine::v1::GenerateRequest request;
      spine::v1::GenerateResponse response;
    };
    auto* call = new Call();
    call->context.AddMetadata("authorization", tokens_[static_cast<size_t>(user - 1)]);
    call->context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
    call->request.set_model(model);
    call->request.set_prompt("tell me about fairness");
    stub_->async()->Generate(&call->context, &call->request, &call->response,
                             [call, done](const grpc::Status& status) {
                               const double wait = call->response.queue_wait_ms();
                               const bool ok = status.ok();
                               if (!ok)
                                 std::fprintf(stderr, "%s\n", status.error_message().c_str());
                               delete call;
                               done(ok, wait);
                             });
  }

 private:
  std::unique_ptr<spine::v1::LlmService::Stub> stub_;
  std::vector<std::string> tokens_;
};

void OverGrpc(spine::testing::Constellation& stack, absl::Duration duration) {
  LlmClient client(stack);
  for (int callers : {1, 16, 128}) {
    Figures figures = ClosedLoop(callers, duration, [&](int caller, auto done) {
      client.Generate(1 + caller % 8, "stub", done);
    });
    Print("spine-llm over gRPC", callers, figures);
    if (figures.errors > 0 || figures.done == 0) Die("generations over gRPC failed");
  }
}

// Waits for `count` notifications of done(ok, wait) and returns the waits.
class Waits {
 public:
  explicit Waits(int count) : left_(count) {}
  auto Callback() {
    return [this](bool ok, double wait) {
      absl::MutexLock lock(&mu_);
      if (ok) waits_.push_back(wait);
      --left_;
    };
  }
  std::vector<double> Wait() {
    absl::MutexLock lock(&mu_);
    auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return left_ == 0; };
    mu_.Await(absl::Condition(&done));
    return waits_;
  }

 private:
  absl::Mutex mu_;
  int left_;
  std::vector<double> waits_;
};

double Mean(const std::vector<double>& values) {
  double sum = 0;
  for (double value : values) sum += value;
  return values.empty() ? 0 : sum / static_cast<double>(values.size());
}

void Fairness(spine::testing::Constellation& stack) {
  LlmClient client(stack);
  // User A floods the one runner: 30 queued at all times (each finished prompt is replaced).
  std::atomic<bool> flooding{true};
  std::atomic<int> a_in_flight{0};
  absl::Mutex a_mu;
  std::vector<double> a_waits;
  std::function<void()> flood = [&] {
    ++a_in_flight;
    client.Generate(1, "fair", [&](bool ok, double wait) {
      {
        absl::MutexLock lock(&a_mu);
        if (ok) a_waits.push_back(wait);
      }
      --a_in_flight;
      if (flooding) flood();
    });
  };
  for (int i = 0; i < 30; ++i) flood();
  absl::SleepFor(absl::Milliseconds(500));
  // User B: 20 prompts, one after another.
  std::vector<double> b_waits;
  for (int i = 0; i < 20; ++i) {
    Waits one(1);
    client.Generate(2, "fair", one.Callback());
    auto wait = one.Wait();
    if (!wait.empty()) b_waits.push_back(wait[0]);
  }
  flooding = false;
  while (a_in_flight > 0) absl::SleepFor(absl::Milliseconds(10));
  absl::MutexLock lock(&a_mu);
  std::printf(
      "fairness (1 runner, 50 ms a job, user A keeps 30 queued): user B queue_wait_ms p50=%.0f "
      "max=%.0f over %zu prompts; user A mean queue_wait_ms=%.0f over %zu prompts\n",
      Percentile(b_waits, 0.5), Percentile(b_waits, 1.0), b_waits.size(), Mean(a_waits),
      a_waits.size());
  if (b_waits.size() != 20 || a_waits.empty()) Die("fairness: generations failed");
}

void Starvation(spine::testing::Constellation& stack) {
  LlmClient client(stack);
  Waits slow(1);
  client.Generate(3, "stub-slow", slow.Callback());
  absl::SleepFor(absl::Milliseconds(300));  // let it take stub-slow's only runner
  std::vector<double> waits;
  for (int i = 0; i < 50; ++i) {
    Waits one(1);
    client.Generate(4, "stub", one.Callback());
    auto wait = one.Wait();
    if (!wait.empty()) waits.push_back(wait[0]);
  }
  std::printf(
      "starvation (stub-slow's runner busy): 50 prompts to stub, queue_wait_ms p50=%.0f max=%.0f\n",
      Percentile(waits, 0.5), Percentile(waits, 1.0));
  if (waits.size() != 50 || slow.Wait().size() != 1) Die("starvation: generations failed");
}

// Every generation above was audited; say whether spine-storage kept up.
void AuditFigures(const spine::testing::Constellation& stack) {
  auto status =
      spine::v1::StatusService::NewStub(spine::rpc::MakeChannel(stack.GrpcAddress("llm"), 4 << 20));
  // The audit writer drains after the load; give it a moment before asking.
  absl::SleepFor(absl::Seconds(2));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  spine::v1::ServiceStatus reply;
  const grpc::Status rpc = status->GetServiceStatus(&context, {}, &reply);
  if (!rpc.ok()) Die("GetServiceStatus failed: " + rpc.error_message());
  std::printf("audit: write failures or drops reported by spine-llm: %lld\n",
              static_cast<long long>(reply.audit_write_failures()));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: llm_bench BINARY_DIR [SECONDS_PER_RUN]\n");
    return 2;
  }
  const absl::Duration duration = absl::Seconds(argc > 2 ? std::atoi(argv[2]) : 3);
  InProcess(duration);

  spine::testing::TempDir dir;
  const std::string models = dir.WriteFile("models.json", R"({"models": [
    {"name": "stub", "backend": "stub", "maxConcurrency": 64, "queueLimit": 1000,
     "timeoutMs": 60000, "contextChars": 32000, "stub": {"firstTokenMs": 0, "tokenMs": 0}},
    {"name": "stub-slow", "backend": "stub", "maxConcurrency": 1, "queueLimit": 10,
     "timeoutMs": 60000, "contextChars": 32000, "stub": {"firstTokenMs": 5000, "tokenMs": 0}},
    {"name": "fair", "backend": "stub", "maxConcurrency": 1, "queueLimit": 100,
     "timeoutMs": 60000, "contextChars": 32000, "stub": {"firstTokenMs": 50, "tokenMs": 0}}]})",
                                           0644);
  spine::testing::Constellation stack(std::vector<std::string>{"storage", "llm"},
                                      {{"SPINE_LLM_MODELS_FILE", models},
                                       {"SPINE_LOG_LEVEL", "warn"},
                                       {"SPINE_LLM_USER_MAX_CONCURRENT", "1000"},
                                       {"SPINE_LLM_USER_REQUESTS_PER_MINUTE", "1000000"}});
  for (const char* service : {"storage", "llm"}) {
    if (!stack.WaitHealthy(service, absl::Seconds(20))) {
      std::fprintf(stderr, "%s did not start:\n%s\n", service, stack.Log(service).c_str());
      return 1;
    }
  }
  OverGrpc(stack, duration);
  Fairness(stack);
  Starvation(stack);
  AuditFigures(stack);
  return 0;
}
