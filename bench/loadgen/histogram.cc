#include "bench/loadgen/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace spine::loadgen {

int Histogram::BucketOf(uint64_t value) {
  constexpr uint64_t kLimit = (uint64_t{1} << kMaxBits) - 1;
  value = std::min(value, kLimit);
  if (value < kSubCount) return static_cast<int>(value);
  const int top = std::bit_width(value) - 1;  // >= kSubBits
  const int shift = top - kSubBits;
  const uint64_t sub = (value >> shift) - kSubCount;
  return static_cast<int>(kSubCount * (shift + 1) + sub);
}

uint64_t Histogram::BucketLow(int bucket) {
  const auto b = static_cast<uint64_t>(bucket);
  if (b < kSubCount) return b;
  const uint64_t shift = b / kSubCount - 1;
  const uint64_t sub = b % kSubCount;
  return (kSubCount + sub) << shift;
}

uint64_t Histogram::BucketWidth(int bucket) {
  const auto b = static_cast<uint64_t>(bucket);
  if (b < kSubCount) return 1;
  return uint64_t{1} << (b / kSubCount - 1);
}

void Histogram::Record(uint64_t value) {
  ++counts_[BucketOf(value)];
  ++count_;
  max_ = std::max(max_, value);
  min_ = std::min(min_, value);
  sum_ += static_cast<long double>(value);
}

void Histogram::Merge(const Histogram& other) {
  for (int i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  max_ = std::max(max_, other.max_);
  min_ = std::min(min_, other.min_);
  sum_ += other.sum_;
}

double Histogram::Mean() const {
  return count_ == 0 ? 0.0 : static_cast<double>(sum_ / static_cast<long double>(count_));
}

uint64_t Histogram::Quantile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  const auto rank =
      std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_))));
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      const uint64_t mid = BucketLow(i) + BucketWidth(i) / 2;
      return std::clamp(mid, Min(), max_);
    }
  }
  return max_;
}

}  // namespace spine::loadgen
