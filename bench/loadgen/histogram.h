// A log-linear latency histogram (the HdrHistogram layout): values below 128 are counted
// exactly, above that each power of two is cut into 128 equal buckets, so a quantile read as its
// bucket's midpoint is within 1/256 (0.4 %) of a value that was recorded. Fixed size, no
// allocation per value: the generator records every request in it.
#pragma once

#include <array>
#include <cstdint>

namespace spine::loadgen {

class Histogram {
 public:
  static constexpr int kSubBits = 7;
  static constexpr uint64_t kSubCount = uint64_t{1} << kSubBits;  // 128
  static constexpr int kMaxBits = 48;  // values up to 2^48 (ns: 78 hours); larger are clamped
  static constexpr int kBuckets = static_cast<int>(kSubCount) * (kMaxBits - kSubBits + 1);
  // Worst relative error of Quantile() against a value that was recorded.
  static constexpr double kMaxRelativeError = 1.0 / (2.0 * kSubCount);

  void Record(uint64_t value);
  void Merge(const Histogram& other);

  uint64_t Count() const { return count_; }
  uint64_t Max() const { return max_; }
  uint64_t Min() const { return count_ == 0 ? 0 : min_; }
  double Mean() const;
  // The value at quantile q in [0, 1] (the smallest v with at least ceil(q * count) values
  // <= v, as the midpoint of its bucket, never above Max()); 0 when empty.
  uint64_t Quantile(double q) const;

  static int BucketOf(uint64_t value);
  static uint64_t BucketLow(int bucket);
  static uint64_t BucketWidth(int bucket);

 private:
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t count_ = 0;
  uint64_t max_ = 0;
  uint64_t min_ = UINT64_MAX;
  long double sum_ = 0;
};

}  // namespace spine::loadgen
