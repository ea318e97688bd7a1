#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "bench/loadgen/histogram.h"
#include "catch2/catch.hpp"

namespace spine::loadgen {
namespace {

TEST_CASE("every value falls in its bucket, and buckets tile the range") {
  for (uint64_t v : {0ULL, 1ULL, 127ULL, 128ULL, 129ULL, 255ULL, 256ULL, 1000ULL, 123456789ULL,
                     (1ULL << 40) + 12345}) {
    const int b = Histogram::BucketOf(v);
    CHECK(Histogram::BucketLow(b) <= v);
    CHECK(v < Histogram::BucketLow(b) + Histogram::BucketWidth(b));
  }
  for (int b = 0; b + 1 < Histogram::kBuckets; ++b) {
    REQUIRE(Histogram::BucketLow(b) + Histogram::BucketWidth(b) == Histogram::BucketLow(b + 1));
  }
  CHECK(Histogram::BucketOf(UINT64_MAX) == Histogram::kBuckets - 1);
}

TEST_CASE("small values are exact") {
  Histogram h;
  for (uint64_t v = 1; v <= 100; ++v) h.Record(v);
  CHECK(h.Count() == 100);
  CHECK(h.Quantile(0.5) == 50);
  CHECK(h.Quantile(0.95) == 95);
  CHECK(h.Quantile(1.0) == 100);
  CHECK(h.Max() == 100);
  CHECK(h.Min() == 1);
  CHECK(h.Mean() == Approx(50.5));
}

TEST_CASE("quantiles are within the stated error of the exact ones") {
  // Latencies from 10 us to 10 s (in ns), log-uniform, plus a heavy tail.
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> exponent(4, 10);
  std::vector<uint64_t> values;
  Histogram h;
  for (int i = 0; i < 200000; ++i) {
    const auto v = static_cast<uint64_t>(std::pow(10.0, exponent(rng)));
    values.push_back(v);
    h.Record(v);
  }
  std::sort(values.begin(), values.end());
  for (double q : {0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0}) {
    const auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(values.size())));
    const double exact = static_cast<double>(values[rank - 1]);
    const double got = static_cast<double>(h.Quantile(q));
    INFO("q " << q << " exact " << exact << " got " << got);
    CHECK(std::abs(got - exact) / exact <= Histogram::kMaxRelativeError);
  }
  CHECK(Histogram::kMaxRelativeError <= 0.01);
  CHECK(h.Max() == values.back());
}

TEST_CASE("merging adds counts") {
  Histogram a;
  Histogram b;
  for (int i = 0; i < 10; ++i) a.Record(1000);
  for (int i = 0; i < 30; ++i) b.Record(5000000);
  a.Merge(b);
  CHECK(a.Count() == 40);
  CHECK(a.Quantile(0.25) == Approx(1000).epsilon(Histogram::kMaxRelativeError));
  CHECK(a.Quantile(0.5) == Approx(5000000).epsilon(Histogram::kMaxRelativeError));
  CHECK(a.Max() == 5000000);
  CHECK(Histogram().Quantile(0.5) == 0);
}

}  // namespace
}  // namespace spine::loadgen
