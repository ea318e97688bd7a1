// FakeWorkers: a WorkerFactory of scripted workers for PluginHost tests, so the host's queue,
// fairness, cancel, breaker and recycling logic run instantly and without node.
//
// A fake worker answers by its input (one JSON string):
//   "hold..."   waits until Release() lets it answer (echoing the input), its cancel fd is
//               readable (CANCELLED, the worker is unusable) or the deadline passes on `clock`
//               (DEADLINE_EXCEEDED, unusable);
//   "crash..."  fails with PLUGIN_CRASHED and the worker is unusable;
//   anything else is echoed at once.
// Every input a worker received is recorded, in order. Thread-safe.
#pragma once

#include <poll.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/core/clock.h"
#include "libs/rpc/error_info.h"
#include "services/plugins/host/plugin_worker.h"
#include "services/plugins/host/worker_protocol.h"

namespace spine::plugins::testing {

class FakeWorkers {
 public:
  explicit FakeWorkers(const Clock& clock) : clock_(clock) {}

  WorkerFactory Factory() {
    return [this](const LoadedPlugin&) -> absl::StatusOr<std::unique_ptr<PluginWorker>> {
      {
        absl::MutexLock lock(&mu_);
        ++started_;
        ++alive_;
      }
      return std::unique_ptr<PluginWorker>(new Worker(*this));
    };
  }

  // Lets `count` held invocations answer.
  void Release(int count) {
    absl::MutexLock lock(&mu_);
    releases_ += count;
  }
  // Waits until `count` invocations are held (at most `timeout`); whether they are.
  bool WaitForHeld(int count, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto reached = [this, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return held_ >= count; };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
  }
  // Adds `cpu` to the tree CPU time of every live worker, as a plugin busy while idle would.
  void BurnCpu(absl::Duration cpu) {
    absl::MutexLock lock(&mu_);
    extra_cpu_ += cpu;
  }
  std::vector<std::string> received() const {
    absl::MutexLock lock(&mu_);
    return received_;
  }
  int started() const {
    absl::MutexLock lock(&mu_);
    return started_;
  }
  int alive() const {
    absl::MutexLock lock(&mu_);
    return alive_;
  }

 private:
  class Worker final : public PluginWorker {
   public:
    explicit Worker(FakeWorkers& owner) : owner_(owner) {
      absl::MutexLock lock(&owner_.mu_);
      cpu_base_ = owner_.extra_cpu_;
    }
    ~Worker() override {
      absl::MutexLock lock(&owner_.mu_);
      --owner_.alive_;
    }

    InvokeResult Invoke(absl::string_view input_json, absl::Time deadline, int cancel_fd) override {
      ++invocations_;
      {
        absl::MutexLock lock(&owner_.mu_);
        owner_.received_.emplace_back(input_json);
      }
      InvokeResult result;
      if (absl::StartsWith(input_json, "\"crash")) {
        usable_ = false;
        result.output = Crashed("fake", "crashed on purpose");
        return result;
      }
      if (absl::StartsWith(input_json, "\"hold")) {
        absl::MutexLock lock(&owner_.mu_);
        ++owner_.held_;
        for (;;) {
          if (owner_.releases_ > 0) {
            --owner_.releases_;
            break;
          }
          pollfd pfd{cancel_fd, POLLIN, 0};
          const bool cancelled = cancel_fd >= 0 && poll(&pfd, 1, 0) > 0;
          if (cancelled || owner_.clock_.Now() >= deadline) {
            --owner_.held_;
            usable_ = false;
            result.output = cancelled ? absl::CancelledError("cancelled")
                                      : absl::DeadlineExceededError("too late");
            return result;
          }
          // The cancel fd and the fake clock cannot wake this wait; a short timeout rechecks.
          owner_.mu_.AwaitWithTimeout(
              absl::Condition(
                  +[](int* releases) { return *releases > 0; }, &owner_.releases_),
              absl::Milliseconds(2));
        }
        --owner_.held_;
      }
      result.output = std::string(input_json);
      return result;
    }
    bool usable() const override { return usable_; }
    bool IdleAndClean() override { return usable_; }
    int invocations() const override { return invocations_; }
    absl::Duration CpuTime() const override { return absl::ZeroDuration(); }
    absl::Duration TreeCpuTime() const override {
      absl::MutexLock lock(&owner_.mu_);
      return owner_.extra_cpu_ - cpu_base_;
    }

   private:
    FakeWorkers& owner_;
    absl::Duration cpu_base_;
    bool usable_ = true;
    int invocations_ = 0;
  };

  const Clock& clock_;
  mutable absl::Mutex mu_;
  int started_ ABSL_GUARDED_BY(mu_) = 0;
  int alive_ ABSL_GUARDED_BY(mu_) = 0;
  int held_ ABSL_GUARDED_BY(mu_) = 0;
  int releases_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Duration extra_cpu_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
  std::vector<std::string> received_ ABSL_GUARDED_BY(mu_);
};

}  // namespace spine::plugins::testing
