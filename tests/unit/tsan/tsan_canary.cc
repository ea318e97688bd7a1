// tsan_canary: scripts/test-tsan's proof that its TSan run can see what it claims to see, run
// before the suites with its reports in a directory of their own.
//
//   tsan_canary race        two threads increment one counter with no synchronisation: TSan must
//                           write a report, or the run's "zero reports" would mean nothing.
//   tsan_canary absl-mutex  the same increments under an absl::Mutex: TSan must write none. It
//                           holds only when the loaded libabsl_synchronization is the instrumented
//                           one (scripts/lib/tsan-abseil.sh); Debian's is opaque to TSan, which
//                           then reports the guarded counter as a race.
#include <cstdio>
#include <string_view>
#include <thread>

#include "absl/base/thread_annotations.h"
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
  int count ABSL_GUARDED_BY(mu) = 0;
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

}  // namespace

int main(int argc, char** argv) {
  const std::string_view mode = argc == 2 ? argv[1] : "";
  if (mode == "race") {
    std::printf("racy count: %d\n", RacyCount());
  } else if (mode == "absl-mutex") {
    std::printf("guarded count: %d (expected %d)\n", GuardedCount(), 2 * kIncrements);
  } else {
    std::fprintf(stderr, "usage: tsan_canary race|absl-mutex\n");
    return 2;
  }
  return 0;
}
