// The replay loop: streams records into TX slots at a controlled rate, on a native thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "loops/frame_rewrite.h"
#include "loops/histogram.h"
#include "loops/link_emu.h"
#include "loops/pacer.h"
#include "loops/sender_thread.h"
#include "ring/port.h"
#include "ring/stop_signal.h"

namespace nmc {

// A batch of records parsed by src/pcap: packet bytes live in one chunk; per-packet arrays say
// where. The memory belongs to JS, which keeps it alive until the batch is given back.
struct ReplayBatch {
  uint32_t id = 0;
  const uint8_t* data = nullptr;
  size_t data_len = 0;
  const uint32_t* off = nullptr;
  const uint32_t* caplen = nullptr;
  const uint32_t* origlen = nullptr;
  const double* sec = nullptr;    // whole seconds
  const uint32_t* nsec = nullptr; // 0xFFFFFFFF = no timestamp
  uint32_t count = 0;
  bool loop_start = false;        // first batch of a new pass over the trace (streamed loops)
  uint16_t link_type = 1;         // LINKTYPE_ of every record in the batch (1 = Ethernet)
  const uint64_t* due = nullptr;  // scheduled: each record's deadline, set by loops/ring_dispatch.h
};

struct ReplayConfig {
  RateMode mode = RateMode::kTopspeed;
  uint64_t rate_num = 0, rate_den = 1;  // packets/s or bits/s
  uint64_t mult_num = 1, mult_den = 1;
  uint64_t limit = 0;          // packets (0 = no limit)
  uint64_t duration_ns = 0;    // 0 = no limit
  bool preload = false;        // batches stay; the loop passes over them `loops` times
  uint64_t loops = 1;          // preload only; 0 = forever
  uint32_t burst = 0;          // most packets per txsync (0 = automatic)
  bool truncate_oversize = false;  // send the first max_frame bytes of larger packets
  uint64_t progress_ns = 250000000;
  uint64_t drain_timeout_ns = 0;   // after a stop: how long to wait for pending packets (0 = 2 s)
  uint64_t drain_idle_ns = 0;      // after the last packet: give up once nothing left for this long (0 = wait)
  EthernetEdits edits;             // --dmac / --smac / --vlan-push / --vlan-pop
  LinkEmuConfig emu;               // --delay / --loss / --bandwidth / --seed
  SenderPlacement placement;       // --realtime / --cpu
  // Scheduled (one ring of several, loops/ring_dispatch.h): each record comes with its deadline
  // (ReplayBatch::due) and the link emulation and limit were applied before; deadlines count from
  // this shared CLOCK_MONOTONIC start, set by the first ring to send. Null: the loop schedules.
  std::atomic<uint64_t>* shared_start = nullptr;
};

enum class ReplayEnd : uint8_t { kDone, kLimit, kDuration, kStopped, kPeerClosed, kError };

struct ReplayStats {
  uint64_t queued = 0;        // packets put into TX slots
  uint64_t queued_bytes = 0;
  uint64_t sent = 0;          // packets that left (queued minus still pending)
  uint64_t sent_bytes = 0;
  uint64_t failed = 0;        // not sent (too big for the port, empty records)
  uint64_t truncated = 0;     // sent shorter than their original length
  uint64_t unconvertible = 0; // of the failed: no Ethernet frame can be made of them (link type)
  uint64_t syncs = 0;         // txsyncs that handed packets over (bursts)
  uint64_t burst_max = 0;
  uint64_t loops_done = 0;    // passes over the trace made in full
  uint64_t start_ns = 0;      // CLOCK_MONOTONIC of the first departure
  uint64_t end_ns = 0;        // when the last packet had left (or we gave up waiting)
  uint64_t last_sync_ns = 0;  // when the last packet was handed over
  uint64_t pending = 0;       // still pending at the end (never counted as sent)
  uint64_t input_waits = 0;   // times the loop had to wait for JS to parse more records
  uint64_t ring_full_waits = 0;  // times the TX ring was full and we waited for the port
  uint64_t ring_full_ns = 0;     // time spent in those waits
  uint64_t thread_cpu_ns = 0;  // CPU time of the sending thread (set at the end)
  uint64_t wait_cpu_ns = 0;    // of it, spent in port waits (TX room, the drain: the thread's CPU
                               // time across each wait), not on packets. Spinning for a deadline
                               // (rates up to Pacer::kQuantumRatePps) is not in it: a thread CPU
                               // reading after the spin would delay the departure it waited for
  uint64_t sleep_cpu_ns = 0;   // of it, spent in the pacer's sleeps between quanta (rates above
                               // Pacer::kQuantumRatePps): the kernel's side of each sleep and
                               // wake-up, paid per quantum of ~kQuantumNs, not per packet
  uint64_t preemptions = 0;    // times the sending thread was descheduled against its will
  uint64_t emu_dropped = 0;    // lost on purpose by the emulated link (--loss)
  LatencyHistogram departure;  // paced modes: handed-over time minus deadline, per packet
};

struct ReplayResult {
  ReplayEnd end = ReplayEnd::kDone;
  std::string error_code;
  std::string error;
  ReplayStats stats;
  SenderThreadState sender;  // what the sending thread got (policy, CPUs)
};

// Batches from JS, consumed by the replay thread.
class ReplayInput {
 public:
  void push(const ReplayBatch& b);
  void end_input();
  // Next batch, blocking while none is queued; false at the end of input or on stop.
  bool next(ReplayBatch& out, StopSignal& stop, bool* waited);
  void wake();  // after stop.request()
  bool ended() const;
  std::vector<ReplayBatch> take_all();  // preload: everything pushed so far

 private:
  mutable std::mutex m_;
  std::condition_variable cv_;
  std::deque<ReplayBatch> q_;
  bool ended_ = false;
};

// Calls from the replay thread to the JS session.
class ReplayEvents {
 public:
  virtual ~ReplayEvents() = default;
  virtual void consumed(uint32_t batch_id) = 0;         // JS may drop or reuse the batch
  virtual void progress(const ReplayStats& stats) = 0;  // non-blocking
};

// One record under a RecordCursor: where its bytes are and its trace timestamp.
struct Record {
  const uint8_t* data;
  uint32_t caplen;
  uint32_t origlen;
  double sec;
  uint32_t nsec;
};

// The cursor over the replay's records: batch after batch from the input, or passes over the
// preloaded batches; counts passes, waits for JS and inconsistent records into `st`. Written once
// for the replay loop and the ring dispatcher (loops/ring_dispatch.h).
class RecordCursor {
 public:
  RecordCursor(const ReplayConfig& cfg, ReplayInput& input, ReplayEvents& events, StopSignal& stop, ReplayStats& st)
      : cfg_(cfg), input_(input), events_(events), stop_(stop), st_(st) {}

  void take_preload() {
    if (cfg_.preload) preload_ = input_.take_all();
  }

  // The record under the cursor, fetching batches as needed; false at the end of input.
  // before_block() runs before the cursor blocks waiting for JS (let what is queued leave).
  template <class BeforeBlock>
  bool peek(Record& p, BeforeBlock&& before_block) {
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
      if (!fetch(before_block)) return false;
    }
  }
  void advance() { ++idx_; }
  // Past n records of the batch under the cursor, all of them checked by the caller (a run).
  void advance_by(uint32_t n) { idx_ += n; }

  const ReplayBatch& batch() const { return cur_; }
  uint32_t index() const { return idx_; }
  uint64_t batches_fetched() const { return fetched_; }
  TraceClock& trace() { return trace_; }
  // At the end: a batch still held (the input did not end) goes back to JS.
  void give_back_held() {
    if (!input_.ended() && !cfg_.preload && have_) events_.consumed(cur_.id);
  }

 private:
  template <class BeforeBlock>
  bool fetch(BeforeBlock& before_block) {
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
      return got_batch();
    }
    ReplayBatch b;
    // Before blocking on JS, let what is queued leave: a slow parser must not hold packets back.
    if (!input_.ended()) before_block();
    bool waited = false;
    if (!input_.next(b, stop_, &waited)) {
      // The end of the input completes the pass under way (a stop does not).
      if (input_.ended() && !stop_.requested() && seen_batch_) ++st_.loops_done;
      seen_batch_ = false;
      return false;
    }
    if (waited) ++st_.input_waits;
    // A new pass begins: the one before it was made in full.
    if (b.loop_start && seen_batch_) ++st_.loops_done;
    seen_batch_ = true;
    cur_ = b;
    return got_batch();
  }
  bool got_batch() {
    have_ = true;
    ++fetched_;
    if (cur_.loop_start) trace_.pass_start();
    return true;
  }

  const ReplayConfig& cfg_;
  ReplayInput& input_;
  ReplayEvents& events_;
  StopSignal& stop_;
  ReplayStats& st_;
  TraceClock trace_;
  ReplayBatch cur_;
  uint32_t idx_ = 0;
  bool have_ = false;
  uint64_t fetched_ = 0;
  std::vector<ReplayBatch> preload_;
  size_t pre_i_ = 0;
  bool seen_batch_ = false;  // streamed: a batch of the current pass was fetched
};

// What becomes of a record on this port.
enum class FrameFit : uint8_t { kOk, kUnconvertible, kUnsendable };
// An empty frame, or one larger than the port takes without --truncate, is not sent.
inline FrameFit fit_length(uint32_t len, uint32_t max_frame, bool truncate_oversize, uint32_t* len_out) {
  if (len == 0 || (len > max_frame && !truncate_oversize)) return FrameFit::kUnsendable;
  *len_out = len > max_frame ? max_frame : len;
  return FrameFit::kOk;
}

// The record's frame on this port (rewritten where needed, p.data then points at it) and its length.
inline FrameFit fit_frame(FrameRewrite& rewrite, bool rewrite_on, uint16_t link_type, uint32_t max_frame,
                          bool truncate_oversize, Record& p, uint32_t* len_out) {
  uint32_t len = p.caplen;
  if (rewrite_on && rewrite.needed(link_type)) {
    // --dmac/--smac, or an Ethernet header for a record of another link type.
    uint32_t out = 0;
    p.data = rewrite.apply(link_type, p.data, len, &out);
    if (!p.data) return FrameFit::kUnconvertible;
    // The length on the wire changes with the frame (a header made or a tag pushed or popped): a
    // record is cut (truncated) only if it was cut before.
    if (out >= len) p.origlen += out - len;
    else p.origlen -= std::min(p.origlen, len - out);
    len = out;
  }
  return fit_length(len, max_frame, truncate_oversize, len_out);
}

// fit_frame's verdict and length without making the frame (the --threads dispatcher: the ring
// that sends the record makes it).
inline FrameFit fit_frame_length(const FrameRewrite& rewrite, bool rewrite_on, uint16_t link_type, uint32_t max_frame,
                                 bool truncate_oversize, const Record& p, uint32_t* len_out) {
  uint32_t len = p.caplen;
  if (rewrite_on && rewrite.needed(link_type)) {
    len = rewrite.length(link_type, p.data, len);
    if (len == 0) return FrameFit::kUnconvertible;
  }
  return fit_length(len, max_frame, truncate_oversize, len_out);
}

ReplayResult run_replay(Port& port, const ReplayConfig& cfg, ReplayInput& input, ReplayEvents& events, StopSignal& stop);

}  // namespace nmc
