#include "bench/loadgen/schedule.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace spine::loadgen {

absl::StatusOr<Phase> ParsePhase(const std::string& spec) {
  const std::vector<std::string> parts = absl::StrSplit(spec, ':');
  if (parts.size() != 3 && parts.size() != 4) {
    return absl::InvalidArgumentError(
        absl::StrCat("phase '", spec, "': expected NAME:SECONDS:RATE[:RATE_END]"));
  }
  Phase p;
  p.name = parts[0];
  if (p.name.empty() || !absl::SimpleAtod(parts[1], &p.seconds) || !(p.seconds > 0) ||
      !absl::SimpleAtod(parts[2], &p.start_per_minute) || p.start_per_minute < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("phase '", spec, "': bad name, seconds or rate"));
  }
  p.end_per_minute = p.start_per_minute;
  if (parts.size() == 4 &&
      (!absl::SimpleAtod(parts[3], &p.end_per_minute) || p.end_per_minute < 0)) {
    return absl::InvalidArgumentError(absl::StrCat("phase '", spec, "': bad end rate"));
  }
  return p;
}

absl::StatusOr<Schedule> Schedule::Create(std::vector<Phase> phases) {
  if (phases.empty()) return absl::InvalidArgumentError("no phase");
  Schedule s;
  double start = 0;
  for (const Phase& p : phases) {
    if (!(p.seconds > 0) || p.start_per_minute < 0 || p.end_per_minute < 0) {
      return absl::InvalidArgumentError(absl::StrCat("phase '", p.name, "': bad duration or rate"));
    }
    // A small epsilon so that 60 s at 600/min is 600 requests despite rounding.
    const double n = (p.start_per_minute + p.end_per_minute) / 2.0 / 60.0 * p.seconds;
    s.counts_.push_back(static_cast<uint64_t>(std::floor(n + 1e-9)));
    s.starts_.push_back(start);
    s.total_ += s.counts_.back();
    start += p.seconds;
  }
  s.phases_ = std::move(phases);
  return s;
}

std::optional<Schedule::Slot> Schedule::Due(uint64_t k) const {
  for (size_t i = 0; i < phases_.size(); ++i) {
    if (k >= counts_[i]) {
      k -= counts_[i];
      continue;
    }
    const Phase& p = phases_[i];
    const double r0 = p.start_per_minute / 60.0;
    const double r1 = p.end_per_minute / 60.0;
    const auto n = static_cast<double>(k);
    double t = 0;
    if (std::abs(r1 - r0) < 1e-12) {
      t = n / r0;
    } else {
      // n(t) = r0 t + (r1 - r0) t^2 / (2 D): the arrivals of a linear ramp; solved for t.
      const double a = (r1 - r0) / (2.0 * p.seconds);
      t = (-r0 + std::sqrt(std::max(0.0, r0 * r0 + 4.0 * a * n))) / (2.0 * a);
    }
    const double due = starts_[i] + std::clamp(t, 0.0, p.seconds);
    return Slot{std::chrono::duration_cast<Duration>(std::chrono::duration<double>(due)),
                static_cast<int>(i)};
  }
  return std::nullopt;
}

Schedule::Duration Schedule::TotalDuration() const {
  double s = 0;
  for (const Phase& p : phases_) s += p.seconds;
  return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(s));
}

double Schedule::PeakPerMinute() const {
  double peak = 0;
  for (const Phase& p : phases_) peak = std::max({peak, p.start_per_minute, p.end_per_minute});
  return peak;
}

}  // namespace spine::loadgen
