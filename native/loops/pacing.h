// Departure schedules. Every deadline is computed from the start of the replay (never from the
// previous packet), in 128-bit integer arithmetic, so there is no drift over hours and no
// overflow over billions of packets.
#pragma once

#include <cstdint>

namespace nmc {

enum class RateMode : uint8_t { kTopspeed, kPps, kBps, kMultiplier };

class Schedule {
 public:
  // rate: packets/s (kPps) or bits/s (kBps), as a rational rate_num / rate_den.
  // multiplier: trace timing scaled by mult_num / mult_den (2 = twice as fast).
  Schedule(RateMode mode, uint64_t rate_num, uint64_t rate_den, uint64_t mult_num, uint64_t mult_den)
      : mode_(mode), rate_num_(rate_num), rate_den_(rate_den ? rate_den : 1), mult_num_(mult_num), mult_den_(mult_den ? mult_den : 1) {}

  RateMode mode() const { return mode_; }
  bool paced() const { return mode_ != RateMode::kTopspeed; }

  // Deadline (ns after start) of the next packet, given how many packets and bits went before
  // it and, for kMultiplier, its timestamp relative to the trace's first packet (ns).
  uint64_t deadline(uint64_t packets_before, uint64_t bits_before, int64_t trace_rel_ns) const {
    using u128 = unsigned __int128;
    switch (mode_) {
      case RateMode::kPps:
        return pps_deadline(packets_before);
      case RateMode::kBps:
        return uint64_t(u128(bits_before) * 1000000000u * rate_den_ / rate_num_);
      case RateMode::kMultiplier:
        if (trace_rel_ns <= 0) return 0;
        return uint64_t(u128(uint64_t(trace_rel_ns)) * mult_den_ / mult_num_);
      default:
        return 0;
    }
  }

  // Packet k of a fixed packet rate: k * 1e9 * den / num, kept as an exact quotient and
  // remainder that advance together when asked for k+1 (no division per packet, no drift).
  uint64_t pps_deadline(uint64_t k) const {
    using u128 = unsigned __int128;
    if (k != pps_k_ + 1 || k == 0) {  // anything but the next packet: compute from scratch
      u128 total = u128(k) * 1000000000u * rate_den_;
      pps_q_ = uint64_t(total / rate_num_);
      pps_r_ = uint64_t(total % rate_num_);
      if (!pps_step_ready_) {
        u128 step = u128(1000000000u) * rate_den_;
        pps_step_q_ = uint64_t(step / rate_num_);
        pps_step_r_ = uint64_t(step % rate_num_);
        pps_step_ready_ = true;
      }
    } else {
      pps_q_ += pps_step_q_;
      pps_r_ += pps_step_r_;
      if (pps_r_ >= rate_num_) {
        pps_r_ -= rate_num_;
        ++pps_q_;
      }
    }
    pps_k_ = k;
    return pps_q_;
  }

 private:
  mutable uint64_t pps_k_ = UINT64_MAX, pps_q_ = 0, pps_r_ = 0, pps_step_q_ = 0, pps_step_r_ = 0;
  mutable bool pps_step_ready_ = false;
  RateMode mode_;
  uint64_t rate_num_, rate_den_, mult_num_, mult_den_;
};

}  // namespace nmc
