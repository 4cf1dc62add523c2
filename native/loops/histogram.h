// A log-linear histogram of non-negative nanosecond values (HDR-style: 32 linear sub-buckets
// per power of two, so every reported quantile is within ~3% of the true value), cheap enough to
// record every packet's departure error.
#pragma once

#include <array>
#include <cstdint>

namespace nmc {

class LatencyHistogram {
 public:
  static constexpr int kSubBits = 5;
  static constexpr int kSub = 1 << kSubBits;
  static constexpr int kBuckets = (64 - kSubBits + 1) * kSub;

  void record(uint64_t v) {
    ++counts_[index(v)];
    ++total_;
    if (v > max_) max_ = v;
    sum_ += v;
  }
  // Records n values, next() giving each (a burst's departure errors). The count, sum and maximum
  // are kept in locals (registers) and written once; so is each run of values that fall in one
  // bucket (a burst's errors, a schedule's steps apart, share buckets above a few microseconds),
  // which spares the per-value index and the increment in memory.
  template <class Next>
  void record_n(uint32_t n, Next&& next) {
    uint64_t sum = 0, mx = max_, lo = 0, span = 0, run = 0;
    int idx = 0;  // the run's bucket (bucket 0 holds only 0)
    for (uint32_t i = 0; i < n; ++i) {
      const uint64_t v = next();
      if (v - lo <= span) {  // the run's bucket (unsigned: a v below lo wraps high)
        ++run;
      } else {
        if (run) counts_[idx] += run;
        idx = index(v);
        lo = lower(idx);
        span = upper(idx) - lo;
        run = 1;
      }
      sum += v;
      mx = v > mx ? v : mx;
    }
    if (run) counts_[idx] += run;
    total_ += n;
    sum_ += sum;
    max_ = mx;
  }
  // Adds another histogram's values (the rings of a --threads replay into one report).
  void merge(const LatencyHistogram& o) {
    for (int i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
    total_ += o.total_;
    sum_ += o.sum_;
    if (o.max_ > max_) max_ = o.max_;
  }
  uint64_t count() const { return total_; }
  uint64_t max() const { return max_; }
  double mean() const { return total_ ? double(sum_) / double(total_) : 0.0; }

  // Smallest recorded-bucket upper bound such that at least q of the values are <= it.
  uint64_t quantile(double q) const {
    if (total_ == 0) return 0;
    uint64_t want = uint64_t(q * double(total_));
    if (want == 0) want = 1;
    uint64_t seen = 0;
    for (int i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= want) {
        uint64_t hi = upper(i);
        return hi < max_ ? hi : max_;
      }
    }
    return max_;
  }

 private:
  static int index(uint64_t v) {
    if (v < kSub) return int(v);
    int msb = 63 - __builtin_clzll(v);
    int shift = msb - kSubBits;
    return (shift + 1) * kSub + int((v >> shift) & (kSub - 1));
  }
  static uint64_t lower(int i) {
    if (i < kSub) return uint64_t(i);
    int shift = i / kSub - 1;
    return (uint64_t(kSub) | uint64_t(i % kSub)) << shift;
  }
  static uint64_t upper(int i) {
    if (i < kSub) return uint64_t(i);
    int shift = i / kSub - 1;
    uint64_t sub = uint64_t(i % kSub);
    return ((uint64_t(kSub) | sub) << shift) + ((uint64_t(1) << shift) - 1);
  }

  std::array<uint64_t, kBuckets> counts_{};
  uint64_t total_ = 0;
  uint64_t max_ = 0;
  uint64_t sum_ = 0;
};

}  // namespace nmc
