// tsan_canary: scripts/test-tsan's proof that its TSan run can see what it claims to see, run
// before the suites with its reports in a directory of their own.
//
//   tsan_canary race        two threads increment one counter with no synchronisation: TSan must
//                           write a report, or the run's "zero reports" would mean nothing.
//   tsan_canary absl-mutex  the same increments under an absl::Mutex: TSan must write none. It
//                           holds only when the loaded libabsl_synchronization is the instrumented
//                           one (scripts/lib/tsan-abseil.sh); Debian's is opaque to TSan, which
//                           then reports the guarded counter as a race.
//   tsan_canary absl-await  a new thread whose first wait is Mutex::Await, woken by another: TSan
//                           must write none. Abseil 20220623 creates the waiter's identity after
//                           the unlock annotation, which TSan reports as a race with the waker;
//                           scripts/lib/tsan-abseil-thread-identity.patch orders it before.
#include <cstdio>
#include <string_view>
#include <thread>

#include "absl/synchronization/mutex.h"

namespace {

constexpr int kIncrements = 10000;

// Deliberately unsynchronised: this is the race the canary exists to show.
int RacyCount() {
  int count = 0;
  auto bump = [&count] {
    for (int i = 0; i < kIncrements; ++i) ++count;
  };
  std::thread first(bump);
  std::thread second(bump);
  first.join();
  second.join();
  return count;
}

int GuardedCount() {
  absl::Mutex mu;
  int count = 0;  // guarded by mu
  auto bump = [&] {
    for (int i = 0; i < kIncrements; ++i) {
      absl::MutexLock lock(&mu);
      ++count;
    }
  };
  std::thread first(bump);
  std::thread second(bump);
  first.join();
  second.join();
  absl::MutexLock lock(&mu);
  return count;
}

// The waiter is queued before the main thread can take the lock (Await releases it only once
// queued), so the main thread's unlock always wakes it: the hand-off happens on every run.
bool AwaitFromFreshThread() {
  absl::Mutex mu;
  bool waiting = false;  // guarded by mu
  bool go = false;       // guarded by mu
  std::thread waiter([&] {
    absl::MutexLock lock(&mu);
    waiting = true;
    mu.Await(absl::Condition(&go));
  });
  mu.LockWhen(absl::Condition(&waiting));
  go = true;
  mu.Unlock();
  waiter.join();
  absl::MutexLock lock(&mu);
  return go;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string_view mode = argc == 2 ? argv[1] : "";
  if (mode == "race") {
    std::printf("racy count: %d\n", RacyCount());
  } else if (mode == "absl-mutex") {
    std::printf("guarded count: %d (expected %d)\n", GuardedCount(), 2 * kIncrements);
  } else if (mode == "absl-await") {
    // Several rounds: whether TSan catches the unpatched hand-off depends on timing.
    int awaited = 0;
    for (int round = 0; round < 20; ++round) awaited += AwaitFromFreshThread() ? 1 : 0;
    std::printf("awaited: %d of 20\n", awaited);
  } else {
    std::fprintf(stderr, "usage: tsan_canary race|absl-mutex|absl-await\n");
    return 2;
  }
  return 0;
}
