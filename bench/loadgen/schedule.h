// The open-loop arrival schedule: a profile of phases, each a duration with a rate that is
// constant or ramps linearly (warm-up), and the due time of request k, fixed before the run so
// that a slow answer never delays the next request (no coordinated omission).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace spine::loadgen {

struct Phase {
  std::string name;
  double seconds = 0;
  double start_per_minute = 0;  // the rate at the phase's start ...
  double end_per_minute = 0;    // ... and at its end (equal: a constant rate)
};

// "NAME:SECONDS:RATE[:RATE_END]", rates in requests per minute.
absl::StatusOr<Phase> ParsePhase(const std::string& spec);

class Schedule {
 public:
  using Duration = std::chrono::nanoseconds;

  static absl::StatusOr<Schedule> Create(std::vector<Phase> phases);

  struct Slot {
    Duration due;  // from the start of the run
    int phase;     // index into phases()
  };
  // Request k's due time, or nullopt once k is past the last phase's last request.
  std::optional<Slot> Due(uint64_t k) const;

  uint64_t TotalRequests() const { return total_; }
  Duration TotalDuration() const;
  const std::vector<Phase>& phases() const { return phases_; }
  // The requests of phase i (the integral of its rate over its duration, rounded down).
  uint64_t PhaseRequests(int i) const { return counts_[i]; }
  // The highest rate of any phase, per minute.
  double PeakPerMinute() const;

 private:
  std::vector<Phase> phases_;
  std::vector<uint64_t> counts_;  // requests per phase
  std::vector<double> starts_;    // seconds from the run's start
  uint64_t total_ = 0;
};

}  // namespace spine::loadgen
