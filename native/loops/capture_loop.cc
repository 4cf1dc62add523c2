// The capture loop, shaped like netmap's receive loop:
//
//   wait (poll with a timeout)
//   for each RX ring: walk [head, tail), write each packet out, head = cur = next
//   (the next wait does the rxsync that gives those slots back)
//
// Packets become pcapng EPBs directly in JS-supplied buffers: one copy, from the slot into the
// file's bytes. A buffer goes to JS when it is full or has waited flush_ms. When JS is slow to
// give buffers back, we stop draining: a pipe's sender then waits (lossless), a NIC's kernel
// drops (and counts it).
#include "loops/capture_loop.h"

#include <pthread.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "ring/clock.h"
#include "loops/pcapng_epb.h"
#include "ring/walkers.h"

namespace nmc {

namespace {

// Out of line on purpose: written inline, `div == 1 ? ns : ns / div` is folded by the compiler
// into an unconditional 64-bit division (x / 1 == x), paid on every packet of a nanosecond ring.
[[gnu::noinline]] uint64_t ts_in_units(uint64_t ns, uint32_t div) { return ns / div; }

class CaptureRun {
 public:
  CaptureRun(Port& port, const CaptureConfig& cfg, CaptureSink& sink, StopSignal& stop)
      : port_(port), cfg_(cfg), sink_(sink), stop_(stop) {}

  CaptureResult run() {
    if (cfg_.count_only) return count_only();
    const uint64_t start = monotonic_ns();
    const uint64_t deadline = cfg_.duration_ns ? start + cfg_.duration_ns : UINT64_MAX;
    for (;;) {
      if (stop_.requested()) return stopped();
      uint64_t now = monotonic_ns();
      if (now >= deadline) return finish(CaptureEnd::kDuration);
      maybe_flush(now);

      int timeout = int(std::min<uint64_t>(cfg_.flush_ms ? cfg_.flush_ms : 1000, (deadline - now + 999999) / 1000000));
      int rc = port_.wait(kWaitRx, timeout, stop_.fd());
      if (rc == kWaitTimeout || rc == kWaitWoken) continue;
      if (rc < 0) {
        // A peer that closed in order is the normal end of a pipe capture. Anything still in
        // the rings was drained before wait() reported it.
        if (port_.end() == PortEnd::kPeerClosed) return finish(CaptureEnd::kPeerClosed);
        return fail(rc);
      }
      for (Ring& r : port_.rx_rings()) {
        if (!drain(r)) {
          if (port_.end() == PortEnd::kError) return fail(-EPROTO);
          return finish(stop_.requested() ? CaptureEnd::kStopped : CaptureEnd::kCount);
        }
      }
    }
  }

 private:
  // A stop (Ctrl-C, SIGTERM, stop()) keeps what had already arrived: rxsync and a pass over
  // every ring, as far as free buffers allow, so that packets a switch delivered before the stop
  // (VALE forwards inside the sender's txsync) are not left in the rings. A backend may hand
  // over a bounded batch per rxsync (AF_PACKET walks its blocks a cache-sized piece at a time),
  // so passes repeat while they find packets, at most kStopPasses times: a sender that keeps
  // going cannot hold the stop up. Whatever is still there afterwards is counted as unread.
  static constexpr int kStopPasses = 128;
  CaptureResult stopped() {
    for (int pass = 0; pass < kStopPasses; ++pass) {
      if (port_.rxsync() < 0) break;
      const uint64_t before = progress_.taken;
      for (Ring& r : port_.rx_rings()) {
        if (!drain(r)) {
          if (port_.end() == PortEnd::kError) return fail(-EPROTO);
          if (cfg_.count && progress_.packets >= cfg_.count) return finish(CaptureEnd::kCount);
          return finish(CaptureEnd::kStopped);
        }
      }
      if (progress_.taken == before) break;
    }
    return finish(CaptureEnd::kStopped);
  }

  // The baseline receiver (CaptureConfig::count_only): the same wait and end as run(), and per
  // ring one pass over [head, tail) reading only each slot's flags.
  CaptureResult count_only() {
    for (;;) {
      if (stop_.requested()) return finish(CaptureEnd::kStopped);
      int rc = port_.wait(kWaitRx, 1000, stop_.fd());
      if (rc == kWaitTimeout || rc == kWaitWoken) continue;
      if (rc < 0) return port_.end() == PortEnd::kPeerClosed ? finish(CaptureEnd::kPeerClosed) : fail(rc);
      for (Ring& r : port_.rx_rings()) {
        uint32_t i = r.head;
        for (; i != r.tail; i = ring_next(r, i)) {
          if (r.slot[i].flags & NS_MOREFRAG) continue;
          ++progress_.taken;
          if (cfg_.count && progress_.taken >= cfg_.count) {
            r.head = r.cur = ring_next(r, i);
            return finish(CaptureEnd::kCount);
          }
        }
        r.head = r.cur = i;
      }
    }
  }

  // Walks one ring; false when the count is reached, we were stopped waiting for a buffer, or
  // the ring broke its protocol (port_.end() says so).
  bool drain(Ring& r) {
    const uint32_t ring_no = r.index < cfg_.iface.size() ? r.index : 0;
    const uint32_t iface = cfg_.iface.empty() ? 0 : cfg_.iface[ring_no];
    const uint32_t ts_div = cfg_.ts_div.empty() || cfg_.ts_div[ring_no] == 0 ? 1 : cfg_.ts_div[ring_no];
    RxWalker w(r);
    RxPacket p;
    bool more = true;
    for (;;) {
      RxWalker::Step step = w.next(p);
      if (step == RxWalker::kEnd) break;
      if (step == RxWalker::kFault) {
        if (r.untrusted) {
          port_.protocol_violation(w.fault_text());
          more = false;
          break;
        }
        ++progress_.invalid;  // a slot we cannot read: skip the packet, count it
        take(w);
        continue;
      }
      uint32_t caplen = uint32_t(std::min<uint64_t>(p.len, cfg_.snaplen));
      if (!cfg_.filter.empty()) {
        const uint32_t keep = run_filter(w, p);
        if (keep == 0) {
          ++progress_.filtered;
          take(w);
          continue;
        }
        caplen = std::min(caplen, keep);
      }
      if (!write_packet(w, iface, p.ts_ns, ts_div, caplen, p.wire_len, r.direction(p.first))) {
        more = false;
        break;
      }
      take(w);
      if (cfg_.count && progress_.packets >= cfg_.count) {
        more = false;
        break;
      }
    }
    w.release();
    return more;
  }

  // Moves past the packet at the cursor: from here on it counts as taken from the ring, whether
  // it was written, filtered or skipped (the sender sees its slots come back at the next rxsync).
  void take(RxWalker& w) {
    w.consume();
    ++progress_.taken;
  }

  // The filter's verdict on the packet next() returned: bytes to keep, 0 to drop. A packet spread
  // over several slots is gathered first.
  uint32_t run_filter(const RxWalker& w, const RxPacket& p) {
    const uint32_t wire32 = p.wire_len > 0xffffffffull ? 0xffffffffu : uint32_t(p.wire_len);
    const auto& frags = w.fragments();
    if (frags.size() == 1) return bpf_run(cfg_.filter.data(), frags[0].data, frags[0].len, wire32);
    gather_.resize(size_t(p.len));
    const uint32_t n = w.copy(gather_.data(), p.len);
    return bpf_run(cfg_.filter.data(), gather_.data(), n, wire32);
  }

  // `flags` is the EPB's epb_flags (direction), 0 for none.
  bool write_packet(const RxWalker& w, uint32_t iface, uint64_t ts_ns, uint32_t ts_div, uint32_t caplen, uint64_t wire,
                    uint32_t flags) {
    uint32_t need = epb_size(caplen, flags);
    if (!buf_ || buf_->capacity - used_ < need) {
      if (buf_ && used_) hand_over();
      if (!buf_) {
        buf_ = sink_.take_buffer(stop_);
        if (!buf_) return false;
        used_ = 0;
        if (buf_->capacity < need) {  // a buffer smaller than one packet: cannot happen with sane sizes
          ++progress_.invalid;
          return true;
        }
      }
    }
    if (used_ == 0) {
      filled_since_ = monotonic_ns();
      fetched_ = 0;
    }
    // The buffers JS lends are big and cold: ask for the lines ahead before storing into them.
    for (const size_t ahead = std::min(used_ + need + kOutPrefetchAhead, buf_->capacity); fetched_ < ahead; fetched_ += 64)
      __builtin_prefetch(buf_->data + fetched_, 1);
    last_at_ = used_;
    uint8_t* out = buf_->data + used_;
    w.copy(out + kEpbHeaderBytes, caplen);
    uint32_t wire32 = wire > 0xffffffffull ? 0xffffffffu : uint32_t(wire);
    epb_begin(out, iface, ts_div == 1 ? ts_ns : ts_in_units(ts_ns, ts_div), caplen, wire32, flags);
    used_ += epb_finish(out, caplen, flags);
    ++progress_.packets;
    progress_.wire_bytes += wire;
    if (caplen < wire) ++progress_.truncated;
    if (progress_.first_ts_ns == 0) progress_.first_ts_ns = ts_ns;
    progress_.last_ts_ns = ts_ns;
    return true;
  }

  void maybe_flush(uint64_t now) {
    if (buf_ && used_ && now - filled_since_ >= uint64_t(cfg_.flush_ms) * 1000000ull) hand_over();
  }

  void hand_over() {
    sink_.deliver(buf_, used_, last_at_, progress_);
    buf_ = nullptr;
    used_ = 0;
  }

  CaptureResult finish(CaptureEnd end) {
    port_.rxsync();  // give the consumed slots back
    CaptureResult res;
    res.end = end;
    if (buf_ && used_) hand_over();
    res.progress = progress_;
    res.counters = port_.counters();
    return res;
  }

  CaptureResult fail(int rc) {
    CaptureResult res = finish(CaptureEnd::kError);
    res.error_code = *port_.error_code() ? port_.error_code() : errc::kIo;
    res.error = port_.error().empty() ? std::string("capture failed: ") + std::strerror(-rc) : port_.error();
    return res;
  }

  Port& port_;
  const CaptureConfig& cfg_;
  CaptureSink& sink_;
  StopSignal& stop_;
  CaptureProgress progress_;
  OutBuffer* buf_ = nullptr;
  size_t used_ = 0;
  size_t last_at_ = 0;  // offset of the last EPB in buf_
  static constexpr size_t kOutPrefetchAhead = 512;
  size_t fetched_ = 0;  // buf_'s lines below this offset were prefetched
  uint64_t filled_since_ = 0;
  std::vector<uint8_t> gather_;  // a multi-slot packet, put together for the filter
};

}  // namespace

CaptureResult run_capture(Port& port, const CaptureConfig& cfg, CaptureSink& sink, StopSignal& stop) {
  // Named, so that perf and top tell the capture thread from Node's own threads.
  pthread_setname_np(pthread_self(), "nmcap-capture");
  return CaptureRun(port, cfg, sink, stop).run();
}

}  // namespace nmc
