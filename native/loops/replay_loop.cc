// The replay loop, shaped like netmap's transmit loop:
//
//   wait (for room: poll, or for the next deadline: sleep then spin)
//   fill free slots [head, tail) with due packets, head = cur = next
//   txsync
//   at the end: txsync, then wait until nothing is pending on the TX ring
//
// One TX ring (ring 0) carries everything, so packets leave in trace order. In paced modes all
// packets whose deadline has passed go out in one burst: when the per-packet cost exceeds the
// gap, bursts grow instead of the schedule slipping, and the burst sizes and each packet's
// departure error are measured and reported.
#include "loops/replay_loop.h"

#include <poll.h>
#include <sys/prctl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "ring/clock.h"

namespace nmc {

// --- ReplayInput ----------------------------------------------------------------------------

void ReplayInput::push(const ReplayBatch& b) {
  {
    std::lock_guard<std::mutex> lk(m_);
    q_.push_back(b);
  }
  cv_.notify_one();
}

void ReplayInput::end_input() {
  {
    std::lock_guard<std::mutex> lk(m_);
    ended_ = true;
  }
  cv_.notify_one();
}

void ReplayInput::wake() { cv_.notify_all(); }

bool ReplayInput::ended() const {
  std::lock_guard<std::mutex> lk(m_);
  return ended_ && q_.empty();
}

bool ReplayInput::next(ReplayBatch& out, StopSignal& stop, bool* waited) {
  std::unique_lock<std::mutex> lk(m_);
  if (q_.empty() && !ended_ && waited) *waited = true;
  cv_.wait(lk, [&] { return !q_.empty() || ended_ || stop.requested(); });
  if (q_.empty() || stop.requested()) return false;
  out = q_.front();
  q_.pop_front();
  return true;
}

std::vector<ReplayBatch> ReplayInput::take_all() {
  std::lock_guard<std::mutex> lk(m_);
  std::vector<ReplayBatch> v(q_.begin(), q_.end());
  q_.clear();
  return v;
}

// --- the loop ---------------------------------------------------------------------------------

namespace {

constexpr uint32_t kNoTs = 0xFFFFFFFFu;
// A paced sender this late may hand over bigger bursts to catch up.
constexpr uint64_t kLateNs = 20000;
// The longest a due packet may wait in a TX slot for the next one to share its sync.
constexpr uint64_t kMaxHoldNs = 20000;
// Rates above this are paced in quanta of kQuantumNs: sleep, then send what is due as one burst.
constexpr uint64_t kQuantumRatePps = 4000000;
constexpr uint64_t kQuantumNs = 50000;
// How long after running late a sender may hold packets like that.
constexpr uint64_t kHoldWindowNs = 1000000;

struct Record {
  const uint8_t* data;
  uint32_t caplen;
  uint32_t origlen;
  double sec;
  uint32_t nsec;
};

class ReplayRun {
 public:
  ReplayRun(Port& port, const ReplayConfig& cfg, ReplayInput& input, ReplayEvents& events, StopSignal& stop)
      : port_(port),
        cfg_(cfg),
        input_(input),
        events_(events),
        stop_(stop),
        sched_(cfg.mode, cfg.rate_num, cfg.rate_den, cfg.mult_num, cfg.mult_den) {}

  ReplayResult run() {
    if (port_.tx_rings().empty()) {
      return error_result(errc::kUnsupported, "port " + port_.info().name + " has no TX ring");
    }
    // Precise sleeps: the default 50 us timer slack would smear every deadline.
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    Ring& r = port_.tx_rings()[0];
    const bool frag = port_.info().tx_fragments;
    uint32_t max_frame = port_.info().max_frame;
    if (!frag) max_frame = max_frame ? std::min(max_frame, r.buf_size) : r.buf_size;
    if (frag && !max_frame) max_frame = 65535;
    // Paced bursts stay small while on time, and may grow to the topspeed size once the sender
    // runs late, so it catches up instead of falling further behind. --burst fixes both.
    auto clamp_burst = [&](uint32_t b) { return std::max<uint32_t>(1, std::min(b, r.num_slots - 1)); };
    const uint32_t burst_on_time = clamp_burst(cfg_.burst ? cfg_.burst : (sched_.paced() ? 64 : 512));
    const uint32_t burst_late = clamp_burst(cfg_.burst ? cfg_.burst : 512);
    uint32_t burst_cap = burst_on_time;
    if (cfg_.preload) preload_ = input_.take_all();
    // Above kQuantumRatePps, pace in quanta (see the loop).
    if (sched_.mode() == RateMode::kPps && cfg_.rate_num > uint64_t(kQuantumRatePps) * cfg_.rate_den) quantum_ns_ = kQuantumNs;

    ReplayEnd end = ReplayEnd::kDone;
    uint64_t last_progress = monotonic_ns();
    uint32_t since_check = 0;
    for (;;) {
      if (stop_.requested()) {
        end = ReplayEnd::kStopped;
        break;
      }
      Record p;
      if (!peek(p)) {
        end = stop_.requested() ? ReplayEnd::kStopped : ReplayEnd::kDone;
        break;
      }
      if (cfg_.limit && st_.queued + st_.failed >= cfg_.limit) {
        end = ReplayEnd::kLimit;
        break;
      }
      uint32_t len = p.caplen;
      if (len == 0 || (len > max_frame && !cfg_.truncate_oversize)) {
        ++st_.failed;
        advance();
        continue;
      }
      if (len > max_frame) len = max_frame;

      uint64_t deadline = sched_.deadline(scheduled_, bits_, trace_rel_ns(p));
      if (!started_) {
        started_ = true;
        t0_ = monotonic_ns();
        st_.start_ns = t0_;
      }
      if (cfg_.duration_ns && sched_.paced() && deadline >= cfg_.duration_ns) {
        end = ReplayEnd::kDuration;
        break;
      }
      if (sched_.paced()) {
        uint64_t now = monotonic_ns() - t0_;
        if (deadline > now && quantum_ns_) {
          // Very high rates: sleep until a quantum's worth of packets is due instead of spinning
          // between deadlines a few hundred ns apart (which would take a whole core from the
          // receiver); those packets then leave as one burst.
          if (!flush()) return finish(ReplayEnd::kError);
          sleep_until_ns(t0_ + deadline + quantum_ns_);
          if (stop_.requested()) continue;
          burst_cap = burst_late;
        } else if (deadline > now) {
          // Hand the burst over before waiting. Only a sender that recently ran late (its
          // syncs cost more than the gaps, as an AF_XDP or AF_PACKET sync is a system call) keeps
          // a due packet for the next one when that one is due sooner than a sync takes; a held
          // packet never waits longer than kMaxHoldNs. A sender that keeps up syncs every packet.
          bool hold = now < hold_until_ && deadline - now < sync_cost_ns_ && !burst_deadlines_.empty() &&
                      now - burst_deadlines_.front() < kMaxHoldNs;
          if (!hold && !flush()) return finish(ReplayEnd::kError);
          wait_until(t0_ + deadline);
          if (stop_.requested()) continue;
          burst_cap = burst_on_time;
        } else if (now - deadline > kLateNs) {
          burst_cap = burst_late;
          hold_until_ = now + kHoldWindowNs;
        }
      }

      uint32_t need = frag ? (len + r.buf_size - 1) / r.buf_size : 1;
      while (ring_space(r) < need) {
        if (!flush()) return finish(ReplayEnd::kError);
        if (ring_space(r) >= need) break;
        uint64_t w0 = monotonic_ns();
        int rc = port_.wait(kWaitTx, 100, stop_.fd());
        ++st_.ring_full_waits;
        st_.ring_full_ns += monotonic_ns() - w0;
        if (monotonic_ns() - last_progress >= cfg_.progress_ns) {  // a stalled port still reports
          last_progress = monotonic_ns();
          report_progress();
        }
        if (rc < 0) return finish(port_.end() == PortEnd::kPeerClosed ? ReplayEnd::kPeerClosed : ReplayEnd::kError);
        if (stop_.requested()) break;
      }
      if (stop_.requested()) continue;

      put(r, p.data, len);
      burst_deadlines_.push_back(deadline);
      ++st_.queued;
      st_.queued_bytes += len;
      if (len < p.origlen) ++st_.truncated;
      ++scheduled_;
      bits_ += uint64_t(len) * 8;
      advance();
      if (burst_deadlines_.size() >= burst_cap && !flush()) return finish(ReplayEnd::kError);

      if (++since_check >= 256) {
        since_check = 0;
        uint64_t now = monotonic_ns();
        if (cfg_.duration_ns && !sched_.paced() && now - t0_ >= cfg_.duration_ns) {
          end = ReplayEnd::kDuration;
          break;
        }
        if (now - last_progress >= cfg_.progress_ns) {
          last_progress = now;
          report_progress();
        }
      }
    }
    return finish(end);
  }

 private:
  // --- records --------------------------------------------------------------------------------

  // The record under the cursor, fetching batches as needed; false at the end of input.
  bool peek(Record& p) {
    for (;;) {
      if (have_ && idx_ < cur_.count) {
        uint32_t off = cur_.off[idx_], cl = cur_.caplen[idx_];
        if (size_t(off) + cl > cur_.data_len) {  // inconsistent batch: count, never read outside
          ++st_.failed;
          ++idx_;
          continue;
        }
        p = Record{cur_.data + off, cl, cur_.origlen[idx_], cur_.sec[idx_], cur_.nsec[idx_]};
        return true;
      }
      if (!fetch()) return false;
    }
  }

  void advance() { ++idx_; }

  bool fetch() {
    if (have_ && !cfg_.preload) events_.consumed(cur_.id);
    have_ = false;
    idx_ = 0;
    if (cfg_.preload) {
      if (preload_.empty()) return false;
      if (pre_i_ == preload_.size()) {
        ++st_.loops_done;
        if (cfg_.loops && st_.loops_done >= cfg_.loops) return false;
        pre_i_ = 0;
      }
      cur_ = preload_[pre_i_];
      cur_.loop_start = pre_i_ == 0;
      ++pre_i_;
      have_ = true;
      if (cur_.loop_start) pass_start_pending_ = true;
      return true;
    }
    ReplayBatch b;
    // Before blocking on JS, let what is queued leave: a slow parser must not hold packets back.
    bool would_block = !input_.ended();
    if (would_block && !burst_deadlines_.empty()) flush();
    bool waited = false;
    if (!input_.next(b, stop_, &waited)) return false;
    if (waited) ++st_.input_waits;
    cur_ = b;
    have_ = true;
    if (cur_.loop_start) pass_start_pending_ = true;
    return true;
  }

  // Trace time of the record, in ns from the first record, continuing across loop passes: each
  // pass starts one average gap after the previous pass ended.
  int64_t trace_rel_ns(const Record& p) {
    if (sched_.mode() != RateMode::kMultiplier) return 0;
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
    if (p.nsec == kNoTs) return pass_offset_ + pass_last_rel_;  // no timestamp: with the previous one
    if (!have_base_) {
      have_base_ = true;
      base_sec_ = p.sec;
      base_nsec_ = p.nsec;
    }
    int64_t rel = int64_t(p.sec - base_sec_) * 1000000000 + (int64_t(p.nsec) - int64_t(base_nsec_));
    if (rel < pass_last_rel_) rel = pass_last_rel_;  // out-of-order stamps never reorder packets
    pass_last_rel_ = rel;
    return pass_offset_ + rel;
  }

  // --- slots ----------------------------------------------------------------------------------

  static void put(Ring& r, const uint8_t* src, uint32_t len) {
    uint32_t cur = r.head, off = 0;
    for (;;) {
      Slot& s = r.slot[cur];
      uint32_t n = std::min(len - off, r.buf_size);
      std::memcpy(r.buf(s.buf_idx), src + off, n);
      s.len = uint16_t(n);
      off += n;
      s.flags = off < len ? NS_MOREFRAG : 0;
      cur = ring_next(r, cur);
      if (off >= len) break;
    }
    r.head = r.cur = cur;
  }

  // txsync the current burst and account for its departures. False on a port error.
  bool flush() {
    if (burst_deadlines_.empty()) return true;
    uint64_t before = monotonic_ns();
    int rc = port_.txsync();
    uint64_t now = monotonic_ns();
    if (rc < 0) return false;
    // What a sync costs, from single-packet syncs only: a bigger sync also pays
    // per packet (copy-mode AF_XDP copies them during the kick), which holding cannot save.
    if (burst_deadlines_.size() == 1) {
      uint64_t cost = now - before;
      sync_cost_ns_ = sync_cost_ns_ ? (sync_cost_ns_ * 7 + cost) / 8 : cost;
    }
    ++st_.syncs;
    st_.burst_max = std::max<uint64_t>(st_.burst_max, burst_deadlines_.size());
    st_.last_sync_ns = now;
    if (sched_.paced()) {
      uint64_t rel = now - t0_;
      for (uint64_t d : burst_deadlines_) st_.departure.record(rel > d ? rel - d : 0);
    }
    burst_deadlines_.clear();
    return true;
  }

  void wait_until(uint64_t abs) {
    for (;;) {
      uint64_t now = monotonic_ns();
      if (now >= abs || stop_.requested()) return;
      uint64_t rem = abs - now;
      if (rem > 3000000) {  // long gaps: sleep interruptibly, wake ~1 ms early
        pollfd pfd{stop_.fd(), POLLIN, 0};
        ::poll(&pfd, 1, int((rem - 1000000) / 1000000));
      } else if (rem > 80000) {
        sleep_until_ns(abs - 50000);  // then spin the last 50 us
      } else {
        for (int i = 0; i < 16; ++i) __builtin_ia32_pause();
      }
    }
  }

  // Packets and bytes handed to the backend and not yet completed on the TX ring.
  static void pending_of(const Ring& r, uint64_t* packets, uint64_t* bytes) {
    *packets = *bytes = 0;
    for (uint32_t i = ring_next(r, r.tail); i != r.head; i = ring_next(r, i)) {
      *bytes += r.slot[i].len;
      if (!(r.slot[i].flags & NS_MOREFRAG)) ++*packets;
    }
  }

  void report_progress() {
    uint64_t pp, pb;
    pending_of(port_.tx_rings()[0], &pp, &pb);
    st_.sent = st_.queued - std::min(pp, st_.queued);
    st_.sent_bytes = st_.queued_bytes - std::min(pb, st_.queued_bytes);
    events_.progress(st_);
  }

  // Flush, then wait until nothing is pending (bounded after a stop), and count what left.
  ReplayResult finish(ReplayEnd end) {
    ReplayResult res;
    bool port_failed = end == ReplayEnd::kError || end == ReplayEnd::kPeerClosed;
    if (!port_failed && !flush()) port_failed = true, end = ReplayEnd::kError;
    if (!port_failed && started_) {
      bool stopped = stop_.requested();
      uint64_t limit_ns = cfg_.drain_timeout_ns ? cfg_.drain_timeout_ns : 2000000000ull;
      uint64_t give_up = monotonic_ns() + limit_ns;
      while (port_.tx_pending_total() > 0) {
        // After a stop the stop fd stays readable, so wait on timeouts alone.
        int rc = port_.wait(kWaitTxProgress, 50, stop_.requested() ? -1 : stop_.fd());
        if (rc < 0) {
          end = port_.end() == PortEnd::kPeerClosed ? ReplayEnd::kPeerClosed : ReplayEnd::kError;
          break;
        }
        if (stop_.requested()) {
          if (!stopped) {  // stopped while draining: from now on the wait is bounded
            stopped = true;
            give_up = monotonic_ns() + limit_ns;
          }
          if (monotonic_ns() >= give_up) break;
        }
      }
    }
    if (!input_.ended() && !cfg_.preload && have_) events_.consumed(cur_.id);
    uint64_t pp, pb;
    pending_of(port_.tx_rings().empty() ? empty_ring_ : port_.tx_rings()[0], &pp, &pb);
    st_.pending = pp;
    st_.sent = st_.queued - std::min(pp, st_.queued);
    st_.sent_bytes = st_.queued_bytes - std::min(pb, st_.queued_bytes);
    st_.end_ns = monotonic_ns();
    if (end == ReplayEnd::kError || end == ReplayEnd::kPeerClosed) {
      res.error_code = *port_.error_code() ? port_.error_code() : errc::kIo;
      res.error = port_.error().empty() ? "transmit failed" : port_.error();
    }
    res.end = end;
    res.stats = st_;
    return res;
  }

  ReplayResult error_result(const char* code, const std::string& msg) {
    ReplayResult res;
    res.end = ReplayEnd::kError;
    res.error_code = code;
    res.error = msg;
    res.stats = st_;
    return res;
  }

  Port& port_;
  const ReplayConfig& cfg_;
  ReplayInput& input_;
  ReplayEvents& events_;
  StopSignal& stop_;
  Schedule sched_;
  ReplayStats st_;
  Ring empty_ring_;

  ReplayBatch cur_;
  uint32_t idx_ = 0;
  bool have_ = false;
  std::vector<ReplayBatch> preload_;
  size_t pre_i_ = 0;

  bool started_ = false;
  uint64_t t0_ = 0;
  uint64_t scheduled_ = 0;
  uint64_t bits_ = 0;
  std::vector<uint64_t> burst_deadlines_;
  uint64_t sync_cost_ns_ = 0;  // running average of a single-packet txsync on this port
  uint64_t hold_until_ = 0;    // holding allowed until then (ns after start)
  uint64_t quantum_ns_ = 0;    // pacing in quanta (very high rates), else 0

  bool pass_start_pending_ = false;
  bool have_base_ = false;
  double base_sec_ = 0;
  uint32_t base_nsec_ = 0;
  int64_t pass_offset_ = 0;
  int64_t pass_last_rel_ = 0;
  uint64_t pass_packets_ = 0;
};

}  // namespace

ReplayResult run_replay(Port& port, const ReplayConfig& cfg, ReplayInput& input, ReplayEvents& events, StopSignal& stop) {
  return ReplayRun(port, cfg, input, events, stop).run();
}

}  // namespace nmc
