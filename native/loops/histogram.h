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
  // Records many values in one go (a burst's departure errors): the count, sum and maximum stay
  // in registers and reach the histogram once, when the batch ends.
  class Batch {
   public:
    explicit Batch(LatencyHistogram& h) : h_(h), max_(h.max_) {}
    ~Batch() {
      h_.total_ += n_;
      h_.sum_ += sum_;
      h_.max_ = max_;
    }
    Batch(const Batch&) = delete;
    Batch& operator=(const Batch&) = delete;
    void add(uint64_t v) {
      ++h_.counts_[index(v)];
      ++n_;
      sum_ += v;
      max_ = v > max_ ? v : max_;
    }

   private:
    LatencyHistogram& h_;
    uint64_t n_ = 0, sum_ = 0, max_;
  };
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
