// Link emulation, as its own stage of the replay (netmap nmreplay's -B, -L and -D): between the
// record source (which says when a packet is offered: the trace's timing, --rate, or at once with
// -t) and the pacer (which makes it leave at the time this stage computes).
//
// The emulated link, per packet, in offer order:
//   bandwidth  the packet is serialised onto a link of `bandwidth` bit/s: it starts when it is
//              offered or when the link is free, whichever is later, and is out when its last
//              bit is (optionally with Ethernet's 24 bytes of preamble, FCS and inter-frame gap);
//   loss       a packet is lost with probability plr, or (bit error rate) if any of its bits is
//              hit: p = 1 - (1 - ber)^(8 * len). A lost packet still took its time on the link;
//   delay      constant, uniform in [min, max], or min plus an exponential of mean (mean - min);
//              never earlier than the packet before it left, so packets are never reordered.
//
// Every departure time is computed from the offer times alone (ns after the start), in integer
// arithmetic for the bandwidth (no drift), with a seeded generator, so one seed gives one
// schedule whatever the machine's speed.
#pragma once

#include <cstdint>

namespace nmc {

enum class DelayKind : uint8_t { kNone, kConstant, kUniform, kExponential };
enum class LossKind : uint8_t { kNone, kPacket, kBit };

struct LinkEmuConfig {
  DelayKind delay = DelayKind::kNone;
  uint64_t delay_min_ns = 0;   // constant: the delay; uniform: min; exponential: min
  uint64_t delay_max_ns = 0;   // uniform: max
  uint64_t delay_mean_ns = 0;  // exponential: the mean (>= min)
  LossKind loss = LossKind::kNone;
  double loss_rate = 0;        // kPacket: per packet; kBit: per bit
  uint64_t bw_num = 0, bw_den = 1;  // bandwidth num/den bit/s (0 = unlimited)
  uint32_t bw_overhead = 0;    // bytes added per packet for the bandwidth (24: Ethernet framing)
  uint64_t seed = 0;

  bool active() const { return delay != DelayKind::kNone || loss != LossKind::kNone || bw_num != 0; }
  // Whether it sets departure times (loss alone only removes packets: topspeed stays unpaced).
  bool shapes_time() const { return delay != DelayKind::kNone || bw_num != 0; }
};

// splitmix64: small, fast, and the same sequence everywhere for a seed.
class SeededRandom {
 public:
  explicit SeededRandom(uint64_t seed) : s_(seed) {}
  uint64_t next() {
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1), 53 bits.
  double unit() { return double(next() >> 11) * 0x1.0p-53; }

 private:
  uint64_t s_;
};

class LinkEmu {
 public:
  explicit LinkEmu(const LinkEmuConfig& cfg);

  bool active() const { return cfg_.active(); }

  struct Out {
    bool lost = false;
    uint64_t at_ns = 0;  // when the packet leaves the emulated link (ns after start)
  };
  // The packet of len bytes offered at offered_ns (offers come in order, never decreasing).
  Out pass(uint64_t offered_ns, uint32_t len);

  uint64_t lost() const { return lost_; }

 private:
  uint64_t draw_delay();
  bool draw_loss(uint32_t len);

  LinkEmuConfig cfg_;
  SeededRandom rng_;
  double log_keep_bit_ = 0;  // log(1 - ber)
  // The time the link is free again, kept exactly as ns * bw_num + remainder (units of
  // 1/bw_num ns), so serialisation times add up without rounding.
  unsigned __int128 link_free_ = 0;
  uint64_t last_out_ = 0;
  uint64_t lost_ = 0;
};

}  // namespace nmc
