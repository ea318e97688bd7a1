#include "libs/core/worker_pool.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace spine {
namespace {

// Generous: reached only when the pool is broken, never on the way to passing.
constexpr absl::Duration kDeadline = absl::Seconds(30);

std::unique_ptr<WorkerPool> MakePool(int num_threads, size_t max_queued) {
  absl::StatusOr<std::unique_ptr<WorkerPool>> pool = WorkerPool::Create(num_threads, max_queued);
  INFO(pool.status().ToString());
  REQUIRE(pool.ok());
  return *std::move(pool);
}

// Occupies one worker until released, so a test can fill the queue behind it deterministically.
class BlockingTask {
 public:
  std::function<void()> Task() {
    return [this] {
      started_.Notify();
      released_.WaitForNotification();
    };
  }
  bool WaitUntilStarted() { return started_.WaitForNotificationWithTimeout(kDeadline); }
  void Release() { released_.Notify(); }

 private:
  absl::Notification started_;
  absl::Notification released_;
};

TEST_CASE("a worker pool runs every submitted task") {
  std::unique_ptr<WorkerPool> pool = MakePool(3, 100);
  absl::Mutex mu;
  int done = 0;
  constexpr int kTasks = 100;
  for (int i = 0; i < kTasks; ++i) {
    REQUIRE(pool->Submit([&] {
                  absl::MutexLock lock(&mu);
                  ++done;
                })
                .ok());
  }
  absl::MutexLock lock(&mu);
  const auto all_done = [&] { return done == kTasks; };
  CHECK(mu.AwaitWithTimeout(absl::Condition(&all_done), kDeadline));
}

TEST_CASE("tasks run on the pool's threads, not the caller's") {
  std::unique_ptr<WorkerPool> pool = MakePool(1, 1);
  absl::Notification ran;
  std::thread::id worker;
  REQUIRE(pool->Submit([&] {
                worker = std::this_thread::get_id();
                ran.Notify();
              })
              .ok());
  REQUIRE(ran.WaitForNotificationWithTimeout(kDeadline));
  CHECK(worker != std::this_thread::get_id());
}

TEST_CASE("a full queue is refused at once with RESOURCE_EXHAUSTED") {
  std::unique_ptr<WorkerPool> pool = MakePool(1, 2);
  BlockingTask blocker;
  REQUIRE(pool->Submit(blocker.Task()).ok());
  REQUIRE(blocker.WaitUntilStarted());  // the only worker is busy; the queue is empty

  std::atomic<int> ran{0};
  CHECK(pool->Submit([&] { ++ran; }).ok());
  CHECK(pool->Submit([&] { ++ran; }).ok());
  // Were Submit to wait for room, this would never return: room only comes after Release below.
  const absl::Status full = pool->Submit([&] { ++ran; });
  CHECK(full.code() == absl::StatusCode::kResourceExhausted);
  CHECK(full.message() == "worker pool: 2 tasks queued, at most 2");

  blocker.Release();
  pool->Shutdown();
  CHECK(ran == 2);  // the refused task was dropped, the queued ones ran
}

TEST_CASE("submitting after shutdown fails with FAILED_PRECONDITION") {
  std::unique_ptr<WorkerPool> pool = MakePool(2, 4);
  pool->Shutdown();
  bool ran = false;
  const absl::Status status = pool->Submit([&] { ran = true; });
  CHECK(status.code() == absl::StatusCode::kFailedPrecondition);
  CHECK_FALSE(ran);
  pool->Shutdown();  // idempotent
}

TEST_CASE("shutdown runs the queued tasks and joins the threads before returning") {
  std::unique_ptr<WorkerPool> pool = MakePool(2, 50);
  BlockingTask first;
  BlockingTask second;
  REQUIRE(pool->Submit(first.Task()).ok());
  REQUIRE(pool->Submit(second.Task()).ok());
  REQUIRE(first.WaitUntilStarted());
  REQUIRE(second.WaitUntilStarted());
  // Both workers are held, so these stay queued until Shutdown is already under way.
  std::atomic<int> finished{0};
  for (int i = 0; i < 20; ++i) REQUIRE(pool->Submit([&] { ++finished; }).ok());

  std::thread releaser([&] {
    first.Release();
    second.Release();
  });
  pool->Shutdown();
  // No waiting here: Shutdown returning means every accepted task has finished.
  CHECK(finished == 20);
  releaser.join();
}

TEST_CASE("destroying a worker pool drains its queue") {
  std::atomic<int> finished{0};
  {
    std::unique_ptr<WorkerPool> pool = MakePool(1, 10);
    for (int i = 0; i < 10; ++i) REQUIRE(pool->Submit([&] { ++finished; }).ok());
  }
  CHECK(finished == 10);
}

TEST_CASE("many threads can submit and shut down at once") {
  std::unique_ptr<WorkerPool> pool = MakePool(2, 1000);
  std::atomic<int> accepted{0};
  std::atomic<int> finished{0};
  std::vector<std::thread> submitters;
  submitters.reserve(4);
  for (int t = 0; t < 4; ++t) {
    submitters.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        if (pool->Submit([&] { ++finished; }).ok()) ++accepted;
      }
    });
  }
  std::thread stopper([&] { pool->Shutdown(); });
  for (std::thread& submitter : submitters) submitter.join();
  stopper.join();
  pool->Shutdown();
  // Whatever was accepted before shutdown ran; nothing else did.
  CHECK(finished == accepted);
}

TEST_CASE("a worker pool needs at least one thread and one queue slot") {
  CHECK(WorkerPool::Create(0, 1).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(WorkerPool::Create(-1, 1).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(WorkerPool::Create(1, 0).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("an empty task is refused") {
  std::unique_ptr<WorkerPool> pool = MakePool(1, 1);
  CHECK(pool->Submit(nullptr).code() == absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace spine
