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

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "ring/clock.h"
#include "loops/pcapng_epb.h"

namespace nmc {

namespace {

// Slot i's bytes, or nullptr when the slot names no valid buffer or claims more than one holds
// (a peer sharing the rings may write anything there).
const uint8_t* readable_data(const Ring& r, uint32_t i) {
  const uint8_t* src = r.slot_data(i);
  if (!src || (!(r.slot[i].flags & NS_INDIRECT) && r.slot[i].len > r.buf_size)) return nullptr;
  return src;
}

class CaptureRun {
 public:
  CaptureRun(Port& port, const CaptureConfig& cfg, CaptureSink& sink, StopSignal& stop)
      : port_(port), cfg_(cfg), sink_(sink), stop_(stop) {}

  CaptureResult run() {
    const uint64_t start = monotonic_ns();
    const uint64_t deadline = cfg_.duration_ns ? start + cfg_.duration_ns : UINT64_MAX;
    for (;;) {
      if (stop_.requested()) return finish(CaptureEnd::kStopped);
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
        if (!drain(r)) return finish(stop_.requested() ? CaptureEnd::kStopped : limit_);
      }
    }
  }

 private:
  // Walks one ring; false when the count is reached or we were stopped waiting for a buffer.
  bool drain(Ring& r) {
    uint32_t cur = r.head;
    const uint32_t ring_no = r.index < cfg_.iface.size() ? r.index : 0;
    const uint32_t iface = cfg_.iface.empty() ? 0 : cfg_.iface[ring_no];
    const uint32_t ts_div = cfg_.ts_div.empty() || cfg_.ts_div[ring_no] == 0 ? 1 : cfg_.ts_div[ring_no];
    bool more = true;
    while (cur != r.tail) {
      // A packet may span several slots (NS_MOREFRAG); take it only when its last slot is here.
      uint32_t last = cur;
      uint64_t len = r.slot[cur].len, wire = r.wire_len(cur);
      while (r.slot[last].flags & NS_MOREFRAG) {
        uint32_t next = ring_next(r, last);
        if (next == r.tail) goto out;  // rest of the packet not here yet
        last = next;
        len += r.slot[last].len;
        wire += r.wire_len(last);
      }
      {
        uint32_t caplen = uint32_t(std::min<uint64_t>(len, cfg_.snaplen));
        if (!cfg_.filter.empty()) {
          const uint32_t keep = run_filter(r, cur, last, len, wire);
          if (keep == 0) {
            ++progress_.filtered;
            cur = ring_next(r, last);
            continue;
          }
          caplen = std::min(caplen, keep);
        }
        if (!write_packet(r, cur, last, iface, r.slot_time(cur), ts_div, caplen, wire)) {
          more = false;
          goto out;
        }
        cur = ring_next(r, last);
        if (cfg_.count && progress_.packets >= cfg_.count) {
          limit_ = CaptureEnd::kCount;
          more = false;
          goto out;
        }
        if (cfg_.byte_limit && produced_ >= cfg_.byte_limit) {
          limit_ = CaptureEnd::kFilesize;
          more = false;
          goto out;
        }
      }
    }
  out:
    r.head = r.cur = cur;
    return more;
  }

  // The filter's verdict on the packet in slots [first, last] (`len` bytes in all): bytes to
  // keep, 0 to drop. A packet spread over several slots is gathered first. A slot we cannot read
  // passes, so write_packet counts it as invalid rather than it vanishing as "filtered".
  uint32_t run_filter(const Ring& r, uint32_t first, uint32_t last, uint64_t len, uint64_t wire) {
    const uint32_t wire32 = wire > 0xffffffffull ? 0xffffffffu : uint32_t(wire);
    if (first == last) {
      const uint8_t* src = readable_data(r, first);
      if (!src) return 1;
      return bpf_run(cfg_.filter.data(), src, r.slot[first].len, wire32);
    }
    gather_.resize(size_t(len));
    size_t at = 0;
    for (uint32_t i = first;; i = ring_next(r, i)) {
      const uint8_t* src = readable_data(r, i);
      if (!src) return 1;
      std::memcpy(gather_.data() + at, src, r.slot[i].len);
      at += r.slot[i].len;
      if (i == last) break;
    }
    return bpf_run(cfg_.filter.data(), gather_.data(), uint32_t(at), wire32);
  }

  bool write_packet(const Ring& r, uint32_t first, uint32_t last, uint32_t iface, uint64_t ts_ns, uint32_t ts_div,
                    uint32_t caplen, uint64_t wire) {
    const uint32_t flags = r.direction(first);
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
    if (used_ == 0) filled_since_ = monotonic_ns();
    uint8_t* out = buf_->data + used_;
    if (first == last) {  // the common case: one slot, one copy
      const uint8_t* src = readable_data(r, first);
      if (!src) {
        ++progress_.invalid;  // a slot we cannot read: skip the packet, count it
        return true;
      }
      std::memcpy(out + 28, src, caplen);
    } else {
      uint32_t copied = 0;
      for (uint32_t i = first;; i = ring_next(r, i)) {
        const uint8_t* src = readable_data(r, i);
        if (!src) {
          ++progress_.invalid;
          return true;
        }
        uint32_t n = std::min<uint32_t>(r.slot[i].len, caplen - copied);
        std::memcpy(out + 28 + copied, src, n);
        copied += n;
        if (i == last) break;
      }
    }
    uint32_t wire32 = wire > 0xffffffffull ? 0xffffffffu : uint32_t(wire);
    epb_begin(out, iface, ts_div == 1 ? ts_ns : ts_ns / ts_div, caplen, wire32, flags);
    const uint32_t block = epb_finish(out, caplen, flags);
    used_ += block;
    produced_ += block;
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
    sink_.deliver(buf_, used_, progress_);
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
  uint64_t filled_since_ = 0;
  std::vector<uint8_t> gather_;  // a multi-slot packet, put together for the filter
  uint64_t produced_ = 0;        // bytes of EPBs written so far
  CaptureEnd limit_ = CaptureEnd::kCount;  // which limit ended the walk
};

}  // namespace

CaptureResult run_capture(Port& port, const CaptureConfig& cfg, CaptureSink& sink, StopSignal& stop) {
  return CaptureRun(port, cfg, sink, stop).run();
}

}  // namespace nmc
