// ServiceTestEnv: what the gRPC service tests of spine-llm share — a real RunnerPool over stub
// backends on the real clock, a real JWT verifier and Authenticator with a signer for user tokens,
// and an in-process gRPC server on a free loopback port.
//
// Models: "stub" (no delays, 2 runners, queue of 8) and "stub-slow" (first token after 60 s, so a
// job there runs until cancelled; 1 runner, queue of 1). Generations go through a
// GenerationAdmission with per-user limits (2 at once, 600 a minute) and a FakeAuditSink.
//
// Usage: build the service objects after the env, Serve them, and call Shutdown before they are
// destroyed.
#pragma once

#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "libs/auth/ed25519_keys.h"
#include "libs/auth/jwt.h"
#include "libs/core/clock.h"
#include "libs/core/scheduler.h"
#include "libs/rpc/caller.h"
#include "libs/rpc/error_info.h"
#include "libs/rpc/status_convert.h"
#include "services/llm/backends/stub_backend.h"
#include "services/llm/generation_admission.h"
#include "services/llm/model_config.h"
#include "services/llm/runner_pool.h"
#include "tests/support/child_process.h"
#include "tests/support/poll.h"
#include "tests/unit/services/llm/fake_audit_sink.h"

namespace spine::llm {

class ServiceTestEnv {
 public:
  ServiceTestEnv() {
    auto pems = GenerateEd25519PemPair();
    REQUIRE(pems.ok());
    auto private_key = Ed25519PrivateKey::FromPem(pems->first);
    auto public_key = Ed25519PublicKey::FromPem(pems->second);
    REQUIRE(private_key.ok());
    REQUIRE(public_key.ok());
    signer_ = std::make_unique<JwtSigner>(*std::move(private_key), clock_);
    std::vector<Ed25519PublicKey> keys;
    keys.push_back(*std::move(public_key));
    verifier_ = std::make_unique<JwtVerifier>(std::move(keys), clock_);
    authenticator_ = std::make_unique<rpc::Authenticator>(verifier_.get());

    ModelConfig fast{.name = "stub", .backend = "stub", .backend_model = "stub"};
    fast.max_concurrency = 2;
    fast.queue_limit = 8;
    ModelConfig slow{.name = "stub-slow", .backend = "stub", .backend_model = "stub-slow"};
    slow.max_concurrency = 1;
    slow.queue_limit = 1;
    auto pool = RunnerPool::Create({fast, slow}, {{"stub", &fast_}, {"stub-slow", &slow_}},
                                   scheduler_, clock_);
    REQUIRE(pool.ok());
    pool_ = *std::move(pool);
    admission_ = std::make_unique<GenerationAdmission>(*pool_, user_limits_, audit_);
  }

  ServiceTestEnv(const ServiceTestEnv&) = delete;
  ServiceTestEnv& operator=(const ServiceTestEnv&) = delete;
  ~ServiceTestEnv() { Shutdown(); }

  void Serve(const std::vector<grpc::Service*>& services) {
    const std::string address = "127.0.0.1:" + std::to_string(testing::FreeLoopbackPort());
    grpc::ServerBuilder builder;
    builder.AddListeningPort(address, grpc::InsecureServerCredentials());
    for (grpc::Service* service : services) builder.RegisterService(service);
    server_ = builder.BuildAndStart();
    REQUIRE(server_ != nullptr);
    channel_ = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  }

  // Stops the server; calls still in flight after a few seconds are cancelled.
  void Shutdown() {
    if (server_ == nullptr) return;
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    server_->Wait();
    server_.reset();
  }

  RunnerPool& pool() { return *pool_; }
  GenerationAdmission& admission() { return *admission_; }
  const FakeAuditSink& audit_sink() const { return audit_sink_; }
  const rpc::Authenticator& authenticator() const { return *authenticator_; }
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }

  // A user access token with subject `sub`.
  std::string Token(const std::string& sub) const {
    auto token = signer_->Sign(sub, "user-" + sub, "user");
    REQUIRE(token.ok());
    return *token;
  }

  // Signs `context` in as `sub` (no token when empty) and bounds the call to 20 s.
  void Prepare(grpc::ClientContext& context, const std::string& sub) const {
    if (!sub.empty()) context.AddMetadata("authorization", "Bearer " + Token(sub));
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  }

  ModelStats StatsOf(const std::string& model) const {
    for (const ModelStats& stats : pool_->Stats()) {
      if (stats.name == model) return stats;
    }
    FAIL("no model " << model);
    return {};
  }

  // Polls `condition` until it holds or `timeout` passes; returns whether it held.
  static bool WaitUntil(const std::function<bool()>& condition,
                        absl::Duration timeout = absl::Seconds(10)) {
    return spine::testing::PollUntil(condition, timeout, absl::Milliseconds(1));
  }

 private:
  const Clock& clock_ = RealClock::Instance();
  ThreadScheduler scheduler_{clock_};
  StubBackend fast_{StubTimings{}, scheduler_, clock_};
  StubBackend slow_{StubTimings{.first_token = absl::Seconds(60)}, scheduler_, clock_};
  std::unique_ptr<RunnerPool> pool_;
  UserLimits user_limits_{UserLimitsConfig{.max_concurrent = 2, .requests_per_minute = 600},
                          clock_};
  FakeAuditSink audit_sink_;
  PromptAudit audit_{audit_sink_, /*include_text=*/false};
  std::unique_ptr<GenerationAdmission> admission_;
  std::unique_ptr<JwtSigner> signer_;
  std::unique_ptr<JwtVerifier> verifier_;
  std::unique_ptr<rpc::Authenticator> authenticator_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

// The ErrorInfo reason a client sees on `status`; empty when there is none.
inline std::string ReasonOf(const grpc::Status& status) {
  auto info = rpc::GetErrorInfo(rpc::FromGrpcStatus(status));
  return info ? info->reason() : std::string();
}

}  // namespace spine::llm
