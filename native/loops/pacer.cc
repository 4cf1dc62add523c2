#include "loops/pacer.h"

#include <algorithm>

namespace nmc {

int64_t TraceClock::rel_ns(double sec, uint32_t nsec) {
  if (pass_start_pending_) {
    pass_start_pending_ = false;
    if (pass_packets_ > 0) {
      int64_t gap = pass_packets_ > 1 ? pass_last_rel_ / int64_t(pass_packets_ - 1) : 0;
      pass_offset_ += pass_last_rel_ + gap;
    }
    have_base_ = false;
    pass_packets_ = 0;
    pass_last_rel_ = 0;
  }
  ++pass_packets_;
  if (nsec == kNoTs) return pass_offset_ + pass_last_rel_;
  if (!have_base_) {
    have_base_ = true;
    base_sec_ = sec;
    base_nsec_ = nsec;
  }
  int64_t rel = int64_t(sec - base_sec_) * 1000000000 + (int64_t(nsec) - int64_t(base_nsec_));
  if (rel < pass_last_rel_) rel = pass_last_rel_;
  pass_last_rel_ = rel;
  return pass_offset_ + rel;
}

Pacer::Pacer(const PacerConfig& cfg)
    : sched_(cfg.mode, cfg.rate_num, cfg.rate_den, cfg.mult_num, cfg.mult_den),
      paced_(sched_.paced() || cfg.emulated),
      counts_due_(cfg.mode == RateMode::kPps && !cfg.emulated && !cfg.external_due) {
  uint32_t most = std::max<uint32_t>(1, cfg.ring_slots);
  auto clamp = [&](uint32_t b) { return std::max<uint32_t>(1, std::min(b, most)); };
  burst_on_time_ = clamp(cfg.burst ? cfg.burst : (paced_ ? kBurstOnTime : kBurstTopspeed));
  burst_late_ = clamp(cfg.burst ? cfg.burst : kBurstTopspeed);
  burst_cap_ = burst_on_time_;
  if (cfg.mode == RateMode::kPps && cfg.rate_den && cfg.rate_num > kQuantumRatePps * cfg.rate_den) quantum_ns_ = kQuantumNs;
}

Pacer::Step Pacer::step(uint64_t due, uint32_t burst_n, uint64_t burst_first_due) {
  Step s;
  if (!paced_) return s;
  const uint64_t now = now_;
  if (quantum_ns_ && due + kJustDueNs > now) {
    // Sleep until a quantum's worth of packets is due; they then leave as one burst. So does a
    // packet that has only just fallen due (while the last burst went out): sending those at once
    // would chase the schedule a few packets and one clock reading at a time, and the sender would
    // seldom sleep. (Lateness is acted on above kLateNs, so a packet due by the last clock reading
    // never comes here this early.)
    s.flush = true;
    s.wait_until = due + quantum_ns_;
    s.coarse = true;
    burst_cap_ = burst_late_;
  } else if (due > now) {
    // Hand the burst over before waiting. Only a sender that recently ran late (its syncs cost
    // more than the gaps, as an AF_XDP or AF_PACKET sync is a system call) keeps a due packet for
    // the next one when that one is due sooner than a sync takes; a held packet never waits
    // longer than kMaxHoldNs. A sender that keeps up syncs every packet.
    bool hold = now < hold_until_ && due - now < sync_cost_ns_ && burst_n > 0 && now - burst_first_due < kMaxHoldNs;
    s.flush = !hold;
    s.wait_until = due;
    burst_cap_ = burst_on_time_;
  } else if (now - due > kLateNs) {
    burst_cap_ = burst_late_;
    hold_until_ = now + kHoldWindowNs;
    late_seen_at_ = now;
  }
  return s;
}

void Pacer::synced(uint32_t n, uint64_t cost_ns) {
  // What a sync costs, from single-packet syncs only: a bigger sync also pays per packet
  // (copy-mode AF_XDP copies them during the kick), which holding cannot save.
  if (n == 1) sync_cost_ns_ = sync_cost_ns_ ? (sync_cost_ns_ * 7 + cost_ns) / 8 : cost_ns;
}

}  // namespace nmc
