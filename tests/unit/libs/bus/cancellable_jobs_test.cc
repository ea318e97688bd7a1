// PendingCancel and CancellableJobs: a cancel before the handle is known stops the work when it
// is attached; a cancel of work that ended, or was never begun, stops nothing.
#include "libs/bus/cancellable_jobs.h"

#include <catch2/catch.hpp>

namespace spine::bus {
namespace {

TEST_CASE("a pending cancel stops the work whether it comes before or after the handle") {
  int stopped = 0;
  PendingCancel before;
  before.Cancel();
  CHECK(stopped == 0);
  before.Attach([&stopped] { ++stopped; });
  CHECK(stopped == 1);  // at once

  PendingCancel after;
  after.Attach([&stopped] { ++stopped; });
  CHECK(stopped == 1);
  after.Cancel();
  CHECK(stopped == 2);
}

TEST_CASE("cancellable jobs stop by id the ones running, and only those") {
  CancellableJobs jobs;
  int a = 0;
  int b = 0;
  jobs.Begin("a");
  jobs.Cancel("a");  // while it is being started
  jobs.Attach("a", [&a] { ++a; });
  CHECK(a == 1);

  jobs.Begin("b");
  jobs.Attach("b", [&b] { ++b; });
  jobs.End("b");
  jobs.Cancel("b");      // ended: nothing to stop
  jobs.Cancel("never");  // unknown
  CHECK(b == 0);
  jobs.Attach("b", [&b] { ++b; });  // after End: not kept
  jobs.Begin("c");
  int c = 0;
  jobs.Attach("c", [&c] { ++c; });
  jobs.CancelAll();
  CHECK(c == 1);
  CHECK(b == 0);
  CHECK(a == 1);  // already stopped once
}

}  // namespace
}  // namespace spine::bus
