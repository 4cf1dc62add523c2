// Pacing, as its own stage of the replay: the schedule (when each packet is due) and the policy
// (given a due time and the clock, flush the burst, wait, or put the packet now).
//
// The replay loop reads: record, due time, pacer decides wait/flush, put. The pacer never reads
// the clock itself: the loop hands it readings, and asks for a fresh one only when a packet does
// not look due by the last reading. A sender that runs behind (or a burst released by a quantum)
// therefore reads the clock once per burst, not once per packet.
//
// Every deadline is computed from the start of the replay (never from the previous packet), in
// 128-bit integer arithmetic, so there is no drift over hours and no overflow over billions of
// packets.
#pragma once

#include <cstdint>

namespace nmc {

enum class RateMode : uint8_t { kTopspeed, kPps, kBps, kMultiplier };

class Schedule {
 public:
  // rate: packets/s (kPps) or bits/s (kBps), as a rational rate_num / rate_den.
  // multiplier: trace timing scaled by mult_num / mult_den (2 = twice as fast).
  Schedule(RateMode mode, uint64_t rate_num, uint64_t rate_den, uint64_t mult_num, uint64_t mult_den)
      : mode_(mode), rate_num_(rate_num ? rate_num : 1), rate_den_(rate_den ? rate_den : 1), mult_num_(mult_num ? mult_num : 1), mult_den_(mult_den ? mult_den : 1) {}

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

  // The deadlines of packets k0, k0+1, ... of a fixed packet rate, in order, from next():
  // k * 1e9 * den / num kept as an exact quotient and remainder that advance together (one
  // division to start, none per packet, no drift).
  class PpsSteps {
   public:
    PpsSteps() = default;
    PpsSteps(const Schedule& s, uint64_t k0) : num_(s.rate_num_) {
      using u128 = unsigned __int128;
      const u128 total = u128(k0) * 1000000000u * s.rate_den_;
      q_ = uint64_t(total / num_), r_ = uint64_t(total % num_);
      const u128 step = u128(1000000000u) * s.rate_den_;
      sq_ = uint64_t(step / num_), sr_ = uint64_t(step % num_);
    }
    uint64_t next() {
      const uint64_t d = q_;
      q_ += sq_;
      r_ += sr_;
      if (r_ >= num_) r_ -= num_, ++q_;
      return d;
    }

   private:
    uint64_t num_ = 1, q_ = 0, r_ = 0, sq_ = 0, sr_ = 0;
  };
  PpsSteps pps_steps(uint64_t k0) const { return PpsSteps(*this, k0); }

  // Packet k of a fixed packet rate, stepped on from packet k-1 when that was the last one asked.
  uint64_t pps_deadline(uint64_t k) const {
    if (k != pps_k_ + 1 || k == 0) pps_next_ = PpsSteps(*this, k);  // anything but the next packet: from scratch
    pps_k_ = k;
    return pps_next_.next();
  }

  // How many packets of a fixed packet rate are due by t (ns after the start): the packets k
  // with k * 1e9 * den / num <= t, counted with one division. The replay loop puts that many
  // without a deadline or a decision per packet.
  uint64_t pps_due_by(uint64_t t) const {
    using u128 = unsigned __int128;
    const u128 per = u128(1000000000u) * rate_den_;
    return uint64_t((u128(t + 1) * rate_num_ + per - 1) / per);
  }

 private:
  mutable uint64_t pps_k_ = UINT64_MAX;
  mutable PpsSteps pps_next_;  // at packet pps_k_ + 1
  RateMode mode_;
  uint64_t rate_num_, rate_den_, mult_num_, mult_den_;
};

// Trace time of each record, in ns from the trace's first record, continuing across loop passes
// (each pass starts one average gap after the previous pass ended). Out-of-order stamps never
// reorder packets; a record without a timestamp goes with the previous one.
class TraceClock {
 public:
  static constexpr uint32_t kNoTs = 0xFFFFFFFFu;
  void pass_start() { pass_start_pending_ = true; }
  int64_t rel_ns(double sec, uint32_t nsec);

 private:
  bool pass_start_pending_ = false;
  bool have_base_ = false;
  double base_sec_ = 0;
  uint32_t base_nsec_ = 0;
  int64_t pass_offset_ = 0;
  int64_t pass_last_rel_ = 0;
  uint64_t pass_packets_ = 0;
};

struct PacerConfig {
  RateMode mode = RateMode::kTopspeed;
  uint64_t rate_num = 0, rate_den = 1;  // packets/s or bits/s
  uint64_t mult_num = 1, mult_den = 1;
  uint32_t burst = 0;       // most packets per txsync, fixed by the user (0 = automatic)
  uint32_t ring_slots = 0;  // usable TX slots: no burst may be larger
  bool emulated = false;    // a link emulation stage sets the due times (loops/link_emu.h): pace
                            // on them even at topspeed
  bool external_due = false;  // the due times come from elsewhere (link emulation, the --threads
                              // dispatcher): no runs of due packets from the schedule
};

class Pacer {
 public:
  // A sender this late may hand over bigger bursts to catch up.
  static constexpr uint64_t kLateNs = 20000;
  // The longest a due packet may wait in a TX slot for the next one to share its sync.
  static constexpr uint64_t kMaxHoldNs = 20000;
  // Rates above this are paced in quanta of kQuantumNs: sleep, then send what is due as one
  // burst, instead of spinning between deadlines a few hundred ns apart (which would take a
  // whole core from the receiver).
  static constexpr uint64_t kQuantumRatePps = 4000000;
  static constexpr uint64_t kQuantumNs = 50000;
  // In quanta, a packet due less than this long ago (31 packets at 10 Mpps) waits for the next
  // quantum with those that fall due after it.
  static constexpr uint64_t kJustDueNs = kQuantumNs / 16;
  // How long after running late a sender may hold packets for a shared sync.
  static constexpr uint64_t kHoldWindowNs = 1000000;
  // Automatic bursts: small while on time, the topspeed size once late.
  static constexpr uint32_t kBurstOnTime = 64;
  static constexpr uint32_t kBurstTopspeed = 512;

  explicit Pacer(const PacerConfig& cfg);

  bool paced() const { return paced_; }
  RateMode mode() const { return sched_.mode(); }

  // Deadline (ns after start) of the next packet; trace_ns matters in kMultiplier mode only.
  uint64_t due(int64_t trace_ns) const { return sched_.deadline(packets_, bits_, trace_ns); }

  // Runs of due packets (a fixed packet rate without link emulation): every packet before
  // due_by(now()) is due by the last clock reading, so the loop puts it with no deadline and no
  // decision, and meets the pacer again (before_put) only at the end of the run or after a new
  // clock reading (where lateness is acted on). A packet's deadline is then needed only for the
  // departure errors: burst_deadlines() steps through a burst's, from its first packet's.
  bool counts_due() const { return counts_due_; }
  uint64_t packets() const { return packets_; }
  uint64_t due_by(uint64_t t) const { return sched_.pps_due_by(t); }
  Schedule::PpsSteps burst_deadlines(uint64_t first_packet) const { return sched_.pps_steps(first_packet); }
  // The packet that was due went into a slot (len bytes), or was offered to the emulated link and
  // lost there: either way the source's schedule moves on.
  void queued(uint32_t len) { queued_run(1, len); }

  // queued() for n packets of `bytes` bytes in all (a run of due packets, or topspeed).
  void queued_run(uint32_t n, uint64_t bytes) {
    packets_ += n;
    bits_ += bytes * 8;
  }

  // Clock readings, in ns after the start. A packet due by the last reading is due now, so the
  // loop needs to read the clock only when needs_clock(due).
  bool needs_clock(uint64_t due) const { return due > now_; }
  void saw_clock(uint64_t now) {
    if (now > now_) now_ = now;
  }
  uint64_t now() const { return now_; }

  // What to do before putting the packet due at `due` (needs_clock(due) answered first).
  // burst_n: packets put since the last sync; burst_first_due: the first one's deadline.
  struct Step {
    bool flush = false;       // hand the burst over first
    uint64_t wait_until = 0;  // then wait until this time (ns after start); 0 = put it now
    bool coarse = false;      // a plain sleep will do (quanta): no spinning for precision
  };
  Step step(uint64_t due, uint32_t burst_n, uint64_t burst_first_due);

  // The whole pacing stage between "due time" and "put", written once for the replay loop and
  // for the pacer's tests (which drive it with a simulated clock and port). S supplies
  //   uint64_t clock()                 now, ns after the start
  //   bool flush()                     txsync the burst (reporting its clock reading with
  //                                    saw_clock and its cost with synced); false on a port error
  //   void wait(uint64_t until, bool coarse)
  //   uint32_t burst_n(); uint64_t burst_first_due()
  // False if a flush failed.
  template <class S>
  bool before_put(uint64_t due, S& s) {
    // The common case, inline: due by the last reading and not late enough to change anything.
    // (Lateness is acted on once per clock reading.)
    if (due <= now_ && (now_ - due <= kLateNs || late_seen_at_ == now_)) return true;
    if (needs_clock(due)) saw_clock(s.clock());
    Step st = step(due, s.burst_n(), s.burst_first_due());
    if (st.flush && !s.flush()) return false;
    if (st.wait_until) {
      s.wait(st.wait_until, st.coarse);
      saw_clock(s.clock());
    }
    return true;
  }

  // Most packets in the burst before it must be synced.
  uint32_t burst_cap() const { return burst_cap_; }
  // A sync handed over n packets and took cost_ns.
  void synced(uint32_t n, uint64_t cost_ns);
  uint64_t sync_cost_ns() const { return sync_cost_ns_; }

 private:
  Schedule sched_;
  bool paced_;
  bool counts_due_;
  uint64_t packets_ = 0, bits_ = 0;
  uint64_t now_ = 0;
  uint32_t burst_on_time_, burst_late_, burst_cap_;
  uint64_t quantum_ns_ = 0;    // pacing in quanta (very high rates), else 0
  uint64_t sync_cost_ns_ = 0;  // running average of a single-packet txsync on this port
  uint64_t hold_until_ = 0;    // holding allowed until then (ns after start)
  uint64_t late_seen_at_ = UINT64_MAX;  // the clock reading at which lateness was last acted on
};

}  // namespace nmc
