// The replay loop, shaped like netmap's transmit loop:
//
//   wait (for room: poll, or for the next deadline: sleep then spin)
//   fill free slots [head, tail) with due packets, head = cur = next
//   txsync
//   at the end: txsync, then wait until nothing is pending on the TX ring
//
// Per record: its due time (the pacer's schedule), the pacer's decision (flush the burst, wait),
// put. The policy lives in loops/pacer.h. One TX ring (ring 0) carries everything, so packets
// leave in trace order; with --threads N each of N ports (one TX queue each) runs this loop on
// its own thread, "scheduled" by loops/ring_dispatch.h, which gives every record its deadline.
// In paced modes all packets whose deadline has passed go out in one burst: when the per-packet
// cost exceeds the gap, bursts grow instead of the schedule slipping, and the burst sizes and
// each packet's departure error are measured and reported.
#include "loops/replay_loop.h"

#include <poll.h>
#include <sys/prctl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "loops/frame_rewrite.h"
#include "loops/tx_ledger.h"
#include "ring/clock.h"
#include "ring/cpu_relax.h"
#include "ring/walkers.h"

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

class ReplayRun {
 public:
  ReplayRun(Port& port, const ReplayConfig& cfg, ReplayInput& input, ReplayEvents& events, StopSignal& stop)
      : port_(port),
        cfg_(cfg),
        events_(events),
        stop_(stop),
        pacer_(pacer_config(cfg, port)),
        rewrite_(cfg.edits),
        rewrite_on_(port.info().link_type == kLinkEthernet),
        emu_(cfg.emu),
        src_(cfg, input, events, stop, st_) {}

  ReplayResult run() {
    if (port_.tx_rings().empty()) {
      return error_result(errc::kUnsupported, "port " + port_.info().name + " has no TX ring");
    }
    // Precise sleeps: the default 50 us timer slack would smear every deadline.
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    sender_ = place_sender_thread(cfg_.placement);
    Ring& r = port_.tx_rings()[0];
    const bool frag = port_.info().tx_fragments;
    const uint32_t max_frame = tx_max_frame(port_.info(), r);
    burst_due_.assign(r.num_slots, 0);
    ledger_.reset(r);
    src_.take_preload();
    const bool paced = pacer_.paced();
    const bool trace_timed = pacer_.mode() == RateMode::kMultiplier;
    const bool scheduled = cfg_.shared_start != nullptr;
    // A fixed packet rate: packets before due_end_ are known due (see Pacer::counts_due), and
    // none at or after the one that would be due at --duration.
    const bool counts_due = pacer_.counts_due();
    const uint64_t duration_end = counts_due && cfg_.duration_ns ? pacer_.due_by(cfg_.duration_ns - 1) : UINT64_MAX;

    // Runs of plain packets need the source's schedule (or none) to be the loop's own, and frames
    // of one slot each.
    const bool runs = !emu_.active() && !scheduled;
    // Ethernet records are edited in their slots (put_run<true>) when there are edits to make;
    // records of another link type get a new header, through scratch: the general path.
    const bool edits = rewrite_on_ && rewrite_.edits().any();
    const uint32_t whole_max = std::min(max_frame, tx_slot_capacity(r));

    ReplayEnd end = ReplayEnd::kDone;
    uint64_t last_progress = monotonic_ns();
    uint32_t since_check = 0;
    // Every kCheckEvery packets: progress, and --duration at topspeed. True once that is over.
    const auto checkpoint = [&] {
      since_check = 0;
      const uint64_t now = monotonic_ns();
      if (cfg_.duration_ns && !paced && now - t0_ >= cfg_.duration_ns) return true;
      if (now - last_progress >= cfg_.progress_ns) {
        last_progress = now;
        report_progress();
      }
      return false;
    };
    std::string fault;  // a bad slot's description (tx_put), out of the loop: no string per packet
    for (;;) {
      if (stop_.requested()) {
        end = ReplayEnd::kStopped;
        break;
      }
      Record p;
      if (!src_.peek(p, [this] {
            if (burst_n_) flush();
          })) {
        end = stop_.requested() ? ReplayEnd::kStopped : ReplayEnd::kDone;
        break;
      }
      if (cfg_.limit && st_.queued + st_.failed + st_.emu_dropped >= cfg_.limit) {
        end = ReplayEnd::kLimit;
        break;
      }
      // A run of plain packets (put_run): due by the last clock reading or at topspeed, nothing
      // between the record and its slot but the Ethernet edits (MACs, VLAN tag). The loop meets
      // them again at the run's end.
      if (runs && started_ && (counts_due ? pacer_.packets() < due_end_ : !paced) &&
          !(rewrite_on_ && src_.batch().link_type != kLinkEthernet)) {
        uint64_t most = std::min<uint64_t>(ring_space(r), pacer_.burst_cap() - std::min(burst_n_, pacer_.burst_cap()));
        most = std::min<uint64_t>(most, kCheckEvery - since_check);
        if (counts_due) most = std::min(most, due_end_ - pacer_.packets());
        if (cfg_.limit) most = std::min(most, cfg_.limit - (st_.queued + st_.failed + st_.emu_dropped));
        const uint32_t n = !most ? 0 : edits ? put_run<true>(r, whole_max, uint32_t(most)) : put_run<false>(r, whole_max, uint32_t(most));
        if (n) {
          if (burst_n_ >= pacer_.burst_cap() && !flush()) return finish(ReplayEnd::kError);
          since_check += n;
          if (since_check >= kCheckEvery && checkpoint()) {
            end = ReplayEnd::kDuration;
            break;
          }
          continue;
        }
      }

      uint32_t len = 0;
      FrameFit fit = fit_frame(rewrite_, rewrite_on_, src_.batch().link_type, max_frame, cfg_.truncate_oversize, p, &len);
      if (fit != FrameFit::kOk) {
        ++st_.failed;
        if (fit == FrameFit::kUnconvertible) ++st_.unconvertible;
        advance();
        continue;
      }

      // record -> due time -> the pacer decides wait/flush -> put (in a run of due packets, no due
      // time and no decision: the run was counted from one clock reading, and the burst's
      // deadlines are stepped through at its sync)
      const bool in_due_run = counts_due && pacer_.packets() < due_end_;
      uint64_t due = 0;
      if (!in_due_run) {
        if (scheduled) due = src_.batch().due[src_.index()];  // one ring of several: the dispatcher's schedule
        else due = pacer_.due(trace_timed ? src_.trace().rel_ns(p.sec, p.nsec) : 0);
      }
      if (emu_.active() && !scheduled) {  // the emulated link between the source and the pacer
        LinkEmu::Out link = emu_.pass(due, len);
        if (link.lost) {
          pacer_.queued(len);
          ++st_.emu_dropped;
          advance();
          continue;
        }
        due = link.at_ns;
      }
      if (!started_) {
        started_ = true;
        t0_ = monotonic_ns();
        st_.start_ns = t0_;
        // Several rings count their deadlines from one start: the first ring's.
        uint64_t first = 0;
        if (scheduled && !cfg_.shared_start->compare_exchange_strong(first, t0_)) t0_ = first;
      }
      if (paced && !in_due_run) {
        if (cfg_.duration_ns && due >= cfg_.duration_ns) {
          end = ReplayEnd::kDuration;
          break;
        }
        if (!pacer_.before_put(due, *this)) return finish(ReplayEnd::kError);
        if (stop_.requested()) continue;
        // This packet is due now; so are those up to the last clock reading's count.
        if (counts_due) due_end_ = std::min(pacer_.due_by(pacer_.now()), duration_end);
      }

      uint32_t need = tx_slots_for(r, len, frag);
      while (ring_space(r) < need) {
        if (!flush()) return finish(ReplayEnd::kError);
        if (ring_space(r) >= need) break;
        uint64_t w0 = monotonic_ns();
        int rc = wait_port(kWaitTx, 100, stop_.fd());
        ++st_.ring_full_waits;
        st_.ring_full_ns += monotonic_ns() - w0;
        report_while_waiting(monotonic_ns());
        if (rc < 0) return finish(port_.end() == PortEnd::kPeerClosed ? ReplayEnd::kPeerClosed : ReplayEnd::kError);
        if (stop_.requested()) break;
      }
      if (stop_.requested()) continue;

      const uint32_t put_at = r.head;
      if (tx_put(r, p.data, len, frag, &fault) != TxPut::kOk) {
        port_.protocol_violation(fault);  // room and size were checked above: a bad slot
        return finish(ReplayEnd::kError);
      }
      ledger_.put(r, put_at, r.head, len);
      if (counts_due) {
        if (burst_n_ == 0) burst_first_packet_ = pacer_.packets();
        ++burst_n_;
      } else {
        burst_due_[burst_n_++] = due;
      }
      pacer_.queued(len);
      ++st_.queued;
      st_.queued_bytes += len;
      if (len < p.origlen) ++st_.truncated;
      advance();
      if (burst_n_ >= pacer_.burst_cap() && !flush()) return finish(ReplayEnd::kError);

      if (++since_check >= kCheckEvery && checkpoint()) {
        end = ReplayEnd::kDuration;
        break;
      }
    }
    return finish(end);
  }

 private:
  friend class nmc::Pacer;  // before_put() drives the pacing hooks below

  // --- pacing hooks (see Pacer::before_put) ------------------------------------------------------

  uint64_t clock() const { return monotonic_ns() - t0_; }
  uint32_t burst_n() const { return burst_n_; }
  uint64_t burst_first_due() const {
    if (!pacer_.counts_due()) return burst_due_[0];
    return burst_n_ ? pacer_.burst_deadlines(burst_first_packet_).next() : 0;
  }
  void wait(uint64_t until, bool coarse) {
    if (coarse) {
      // A sleep between quanta: its CPU (the kernel's side of the sleep and the wake-up) is
      // measured apart, two clock reads per quantum; a precise wait spins and is not measured.
      const uint64_t cpu0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
      sleep_until_ns(t0_ + until);
      st_.sleep_cpu_ns += clock_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0;
    }
    else wait_until(t0_ + until);
  }

  // --- records --------------------------------------------------------------------------------

  void advance() { src_.advance(); }

  // --- slots ----------------------------------------------------------------------------------

  static constexpr uint32_t kCheckEvery = 256;
  // How many records ahead put_run asks for a record's bytes (written by the reader thread, often
  // on the other core). Asking for the TX slots and buffers ahead (prefetchw, 4 to 64 slots) did
  // not pay here: the run was as fast or slower (2 cores, pipe into nmcap -w /dev/null); nor did
  // non-temporal stores into the buffers, which left the receiver reading them from memory (6x
  // its cost per packet).
  static constexpr uint32_t kRecordsAhead = 8;

  // Puts up to `most` records of the current batch from the cursor on, one slot each, as the
  // loop's general path would put them (the same checks, slots, ledger, counts and schedule), with
  // what it keeps per packet in registers. It stops before a record the general path must look at
  // (empty, larger than max_len, outside its batch) and before a slot whose buf_idx fails its check
  // (tx_put then reports it); the caller bounds `most` by the ring's room and the burst, run and
  // limit counts. With kEdits (Ethernet records, --dmac/--smac/--vlan-push/--vlan-pop) each frame
  // is written into its slot as it leaves (EthernetEdits::write); a record too short for an
  // Ethernet header, or one a pushed tag makes too large, is left to the general path. Returns
  // how many it put. Out of line (one call a run): inlined into run(), its locals were spilled to
  // the stack.
  template <bool kEdits>
  __attribute__((noinline)) uint32_t put_run(Ring& r, uint32_t max_len, uint32_t most) {
    // Everything the loop reads in locals: its stores into the buffers (bytes) could alias any
    // member as far as the compiler knows, which would reload them after every copy.
    const EthernetEdits edits = rewrite_.edits();
    const uint32_t fit_len = max_len - std::min(max_len, edits.growth());  // largest record a push keeps within max_len
    const ReplayBatch& b = src_.batch();
    const uint8_t* const data = b.data;
    const size_t data_len = b.data_len;
    const uint32_t *const offs = b.off, *const caplens = b.caplen, *const origlens = b.origlen;
    const uint32_t first = src_.index();
    const uint32_t end = first + std::min(most, b.count - first);
    const uint32_t n_slots = r.num_slots;
    Slot* const slots = r.slot;
    uint8_t* const buf_base = r.buf_base;
    const size_t stride = r.buf_stride ? r.buf_stride : r.buf_size;
    const uint32_t num_bufs = r.num_bufs;
    uint32_t* const booked = ledger_.booked();
    uint32_t head = r.head;
    uint32_t k = first;
    uint64_t bytes = 0, truncated = 0;
    for (; k < end; ++k) {
      const uint32_t off = offs[k], len = caplens[k];
      if (len == 0 || len > (kEdits ? fit_len : max_len) || size_t(off) + len > data_len) break;
      if (kEdits && len < FrameRewrite::kEthHeader) break;
      if (k + kRecordsAhead < end) __builtin_prefetch(data + offs[k + kRecordsAhead]);
      // As tx_put: the slot read once, its buf_idx checked (Ring::valid_buf) before a byte is written.
      const Slot s = load_slot(slots[head]);
      if (num_bufs != 0 && s.buf_idx >= num_bufs) break;
      uint8_t* const frame = buf_base + size_t(s.buf_idx) * stride;
      uint32_t out = len;
      if (kEdits) out = edits.write(frame, data + off, len);
      else copy_frame_bytes(frame, data + off, len);
      slots[head].len = uint16_t(out);
      slots[head].flags = 0;
      booked[head] = out;
      bytes += out;
      truncated += len < origlens[k];  // cut by the snaplen (an edit changes both lengths alike)
      head = head + 1 == n_slots ? 0 : head + 1;
    }
    const uint32_t n = k - first;
    if (n == 0) return 0;
    r.head = r.cur = head;
    if (burst_n_ == 0) burst_first_packet_ = pacer_.packets();
    burst_n_ += n;
    pacer_.queued_run(n, bytes);
    st_.queued += n;
    st_.queued_bytes += bytes;
    st_.truncated += truncated;
    src_.advance_by(n);
    return n;
  }

  // txsync the current burst and account for its departures. False on a port error.
  bool flush() {
    if (burst_n_ == 0) return true;
    // A sync's own cost matters to the pacer for single-packet syncs only.
    uint64_t before = burst_n_ == 1 ? monotonic_ns() : 0;
    int rc = port_.txsync();
    uint64_t now = monotonic_ns();
    if (rc < 0) return false;
    pacer_.synced(burst_n_, before ? now - before : 0);
    ++st_.syncs;
    st_.burst_max = std::max<uint64_t>(st_.burst_max, burst_n_);
    st_.last_sync_ns = now;
    uint64_t rel = now - t0_;
    pacer_.saw_clock(rel);
    due_end_ = 0;  // a new clock reading: the pacer sees the next packet (lateness, burst size)
    if (pacer_.counts_due()) {
      // A run of due packets kept no deadlines: step through the burst's from its first packet's.
      Schedule::PpsSteps due = pacer_.burst_deadlines(burst_first_packet_);
      st_.departure.record_n(burst_n_, [&] {
        const uint64_t d = due.next();
        return rel > d ? rel - d : 0;
      });
    } else if (pacer_.paced()) {
      const uint64_t* due = burst_due_.data();
      st_.departure.record_n(burst_n_, [&] {
        const uint64_t d = *due++;
        return rel > d ? rel - d : 0;
      });
    }
    burst_n_ = 0;
    return true;
  }

  // A port wait (TX room, the drain), its CPU time (the backend may spin before it sleeps)
  // counted as waiting: two clock reads per wait, which lasts microseconds at least.
  int wait_port(unsigned events, int timeout_ms, int wake_fd) {
    const uint64_t cpu0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    int rc = port_.wait(events, timeout_ms, wake_fd);
    st_.wait_cpu_ns += clock_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0;
    return rc;
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
        for (int i = 0; i < 16; ++i) cpu_relax();
      }
    }
  }

  // Packets and bytes handed to the backend and not yet completed on the TX ring, from our own
  // ledger (a peer may write the shared slots; see loops/tx_ledger.h).
  void pending_of(const Ring& r, uint64_t* packets, uint64_t* bytes) const { ledger_.pending(r, packets, bytes); }

  // Progress keeps coming while the loop waits for TX room or completions (nothing else would say it).
  void report_while_waiting(uint64_t now) {
    if (now - last_wait_report_ns_ < cfg_.progress_ns) return;
    last_wait_report_ns_ = now;
    report_progress();
  }

  void report_progress() {
    uint64_t pp, pb;
    pending_of(port_.tx_rings()[0], &pp, &pb);
    st_.sent = st_.queued - std::min(pp, st_.queued);
    st_.sent_bytes = st_.queued_bytes - std::min(pb, st_.queued_bytes);
    events_.progress(st_);
  }

  // Flush, then wait until nothing is pending, and count what left. After a stop the wait is
  // bounded by drain_timeout_ns from the stop (--drain-timeout S, 2 s without it): Ctrl-C means
  // "end now", but what was queued still gets that long to leave.
  ReplayResult finish(ReplayEnd end) {
    ReplayResult res;
    bool port_failed = end == ReplayEnd::kError || end == ReplayEnd::kPeerClosed;
    if (!port_failed && !flush()) port_failed = true, end = ReplayEnd::kError;
    if (!port_failed && started_) {
      bool stopped = stop_.requested();
      uint64_t limit_ns = cfg_.drain_timeout_ns ? cfg_.drain_timeout_ns : 2000000000ull;
      uint64_t give_up = monotonic_ns() + limit_ns;
      uint64_t idle_since = monotonic_ns();
      uint64_t last_pending = port_.tx_pending_total();
      while (port_.tx_pending_total() > 0) {
        // After a stop the stop fd stays readable, so wait on timeouts alone.
        int rc = wait_port(kWaitTxProgress, 50, stop_.requested() ? -1 : stop_.fd());
        if (rc < 0) {
          end = port_.end() == PortEnd::kPeerClosed ? ReplayEnd::kPeerClosed : ReplayEnd::kError;
          break;
        }
        // A netmap pipe or VALE port says nothing when its reader goes away: report while
        // waiting (JS says who it waits for), and give up after drain_idle_ns without progress.
        uint64_t now = monotonic_ns();
        report_while_waiting(now);
        uint64_t pending = port_.tx_pending_total();
        if (pending != last_pending) last_pending = pending, idle_since = now;
        if (stop_.requested()) {
          if (!stopped) {  // stopped while draining: from now on the wait is bounded, from the stop
            stopped = true;
            give_up = now + limit_ns;
            idle_since = now;  // the idle rule must not cut the stop's bound short
          }
          if (now >= give_up) break;
        }
        if (cfg_.drain_idle_ns && now - idle_since >= cfg_.drain_idle_ns) break;
      }
    }
    src_.give_back_held();
    uint64_t pp, pb;
    pending_of(port_.tx_rings().empty() ? empty_ring_ : port_.tx_rings()[0], &pp, &pb);
    st_.pending = pp;
    st_.sent = st_.queued - std::min(pp, st_.queued);
    st_.sent_bytes = st_.queued_bytes - std::min(pb, st_.queued_bytes);
    st_.end_ns = monotonic_ns();
    const ThreadUsage used = thread_usage();
    st_.thread_cpu_ns = used.cpu_ns;
    st_.preemptions = used.involuntary_switches;
    if (end == ReplayEnd::kError || end == ReplayEnd::kPeerClosed) {
      res.error_code = *port_.error_code() ? port_.error_code() : errc::kIo;
      res.error = port_.error().empty() ? "transmit failed" : port_.error();
    }
    res.end = end;
    res.stats = st_;
    res.sender = sender_;
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

  static PacerConfig pacer_config(const ReplayConfig& c, Port& port) {
    PacerConfig pc;
    pc.mode = c.mode;
    pc.rate_num = c.rate_num;
    pc.rate_den = c.rate_den;
    pc.mult_num = c.mult_num;
    pc.mult_den = c.mult_den;
    pc.burst = c.burst;
    pc.ring_slots = port.tx_rings().empty() ? 1 : port.tx_rings()[0].num_slots - 1;
    pc.emulated = c.emu.shapes_time();
    pc.external_due = c.emu.active() || c.shared_start != nullptr;
    return pc;
  }

  Port& port_;
  const ReplayConfig& cfg_;
  ReplayEvents& events_;
  StopSignal& stop_;
  Pacer pacer_;
  FrameRewrite rewrite_;
  const bool rewrite_on_;  // the port takes Ethernet frames
  LinkEmu emu_;
  SenderThreadState sender_;
  TxLedger ledger_;
  ReplayStats st_;
  Ring empty_ring_;
  uint64_t last_wait_report_ns_ = 0;

  RecordCursor src_;

  bool started_ = false;
  uint64_t t0_ = 0;
  std::vector<uint64_t> burst_due_;  // deadline of each packet put since the last sync (unless counts_due)
  uint32_t burst_n_ = 0;
  uint64_t burst_first_packet_ = 0;  // counts_due: the schedule's number of the burst's first packet
  uint64_t due_end_ = 0;             // counts_due: packets before this one are due by the last clock reading
};

}  // namespace

ReplayResult run_replay(Port& port, const ReplayConfig& cfg, ReplayInput& input, ReplayEvents& events, StopSignal& stop) {
  return ReplayRun(port, cfg, input, events, stop).run();
}

}  // namespace nmc
