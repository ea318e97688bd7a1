#include <chrono>
#include <cmath>

#include "bench/loadgen/schedule.h"
#include "catch2/catch.hpp"

namespace spine::loadgen {
namespace {

double Seconds(Schedule::Duration d) { return std::chrono::duration<double>(d).count(); }

Schedule Make(std::vector<Phase> phases) {
  auto s = Schedule::Create(std::move(phases));
  REQUIRE(s.ok());
  return *std::move(s);
}

TEST_CASE("a constant phase is due every 1/rate, and ends after rate x duration requests") {
  const Schedule s = Make({{"sustained", 60, 600, 600}});
  CHECK(s.TotalRequests() == 600);
  CHECK(Seconds(s.TotalDuration()) == Approx(60));
  for (uint64_t k : {0, 1, 2, 299, 599}) {
    const auto slot = s.Due(k);
    REQUIRE(slot.has_value());
    CHECK(Seconds(slot->due) == Approx(static_cast<double>(k) * 0.1).margin(1e-9));
    CHECK(slot->phase == 0);
  }
  CHECK_FALSE(s.Due(600).has_value());
}

TEST_CASE("phases follow each other: warm-up ramp, sustained, spike") {
  // Ramp 0 -> 1200/min over 10 s: 100 requests; then 30 s at 1200/min: 600; then 5 s at 2400: 200.
  const Schedule s =
      Make({{"warmup", 10, 0, 1200}, {"sustained", 30, 1200, 1200}, {"spike", 5, 2400, 2400}});
  CHECK(s.PhaseRequests(0) == 100);
  CHECK(s.PhaseRequests(1) == 600);
  CHECK(s.PhaseRequests(2) == 200);
  CHECK(s.TotalRequests() == 900);
  CHECK(s.PeakPerMinute() == Approx(2400));

  // In the ramp, k arrivals have happened by t with k = r1 t^2 / (2 D): t = sqrt(2 D k / r1).
  for (uint64_t k : {1, 25, 50, 99}) {
    const auto slot = s.Due(k);
    REQUIRE(slot.has_value());
    CHECK(slot->phase == 0);
    CHECK(Seconds(slot->due) == Approx(std::sqrt(2.0 * 10 * static_cast<double>(k) / 20.0)));
  }
  // Due times never go backwards, and each request lands in its phase's window.
  double last = -1;
  for (uint64_t k = 0; k < s.TotalRequests(); ++k) {
    const auto slot = s.Due(k);
    REQUIRE(slot.has_value());
    const double t = Seconds(slot->due);
    CHECK(t >= last);
    last = t;
    const int expected_phase = k < 100 ? 0 : (k < 700 ? 1 : 2);
    REQUIRE(slot->phase == expected_phase);
  }
  const auto first_sustained = s.Due(100);
  CHECK(Seconds(first_sustained->due) == Approx(10));
  CHECK(Seconds(s.Due(101)->due) == Approx(10.05));
  CHECK(Seconds(s.Due(700)->due) == Approx(40));
  CHECK(Seconds(s.Due(701)->due) == Approx(40.025));
  CHECK_FALSE(s.Due(900).has_value());
}

TEST_CASE("phase specs parse, and bad ones are refused") {
  const auto ramp = ParsePhase("warmup:20:2500:25000");
  REQUIRE(ramp.ok());
  CHECK(ramp->name == "warmup");
  CHECK(ramp->seconds == 20);
  CHECK(ramp->start_per_minute == 2500);
  CHECK(ramp->end_per_minute == 25000);
  const auto flat = ParsePhase("spike:20:50000");
  REQUIRE(flat.ok());
  CHECK(flat->end_per_minute == 50000);
  for (const char* bad :
       {"", "x", "x:1", ":1:2", "x:0:10", "x:-1:10", "x:1:-5", "x:1:2:3:4", "x:a:10", "x:1:10:b"}) {
    CHECK_FALSE(ParsePhase(bad).ok());
  }
  CHECK_FALSE(Schedule::Create({}).ok());
}

}  // namespace
}  // namespace spine::loadgen
