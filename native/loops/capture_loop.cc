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
  // ring one pass over [head, tail) reading only each slot's flags (with count_reads, also a
  // byte of each line of the packet).
  CaptureResult count_only() {
    uint32_t sum = 0;  // what count_reads loaded, kept in read_sink_ (at every wake-up) so the loads stay
    for (;;) {
      read_sink_ = sum;
      if (stop_.requested()) return finish(CaptureEnd::kStopped);
      int rc = port_.wait(kWaitRx, 1000, stop_.fd());
      if (rc == kWaitTimeout || rc == kWaitWoken) continue;
      if (rc < 0) return port_.end() == PortEnd::kPeerClosed ? finish(CaptureEnd::kPeerClosed) : fail(rc);
      for (Ring& r : port_.rx_rings()) {
        uint32_t i = r.head;
        for (; i != r.tail; i = ring_next(r, i)) {
          if (r.slot[i].flags & NS_MOREFRAG) continue;
          if (cfg_.count_reads) {
            const Slot s = load_slot(r.slot[i]);
            if (const uint8_t* d = rx_whole_slot(r, s)) {
              for (uint32_t k = 0; k < s.len; k += 64) sum += d[k];
              if (s.len) sum += d[s.len - 1];
            }
          }
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
  // the ring broke its protocol (port_.end() says so). Packets that are one whole slot (nearly
  // all of them) go through drain_whole, a loop with nothing in it but what such a packet needs;
  // a slot it does not take (a fragment chain, a slot failing its check) goes to the general
  // walk, which hands back as soon as the next slot is a whole packet again.
  bool drain(Ring& r) {
    const uint32_t ring_no = r.index < cfg_.iface.size() ? r.index : 0;
    const uint32_t iface = cfg_.iface.empty() ? 0 : cfg_.iface[ring_no];
    const uint32_t ts_div = cfg_.ts_div.empty() || cfg_.ts_div[ring_no] == 0 ? 1 : cfg_.ts_div[ring_no];
    for (;;) {
      Drained d = drain_whole(r, iface, ts_div);
      if (d == Drained::kOther) d = drain_general(r, iface, ts_div);
      if (d == Drained::kAtTail) return true;
      if (d == Drained::kStop) return false;
    }
  }

  enum class Drained : uint8_t {
    kAtTail,  // nothing (complete) left in the ring
    kStop,    // count reached, stopped waiting for a buffer, or the ring broke its protocol
    kOther,   // head is at a slot the other walk takes
  };

  // Counters of one drain_whole pass, kept in registers: stored into the members on every
  // packet, they are reloaded after each copy (the output could alias them, as far as the
  // compiler knows).
  struct Tally {
    uint64_t packets = 0, taken = 0, wire_bytes = 0, truncated = 0, filtered = 0, first_ts = 0, last_ts = 0;
  };
  void merge(Tally& t) {
    progress_.packets += t.packets;
    progress_.taken += t.taken;
    progress_.wire_bytes += t.wire_bytes;
    progress_.truncated += t.truncated;
    progress_.filtered += t.filtered;
    if (progress_.first_ts_ns == 0) progress_.first_ts_ns = t.first_ts;
    if (t.packets) progress_.last_ts_ns = t.last_ts;
    t = Tally{};
  }

  // Whole one-slot packets from head on, as the general walk would write them: the same checks
  // (rx_whole_slot), filter, lengths, timestamps and EPBs.
  Drained drain_whole(Ring& r, uint32_t iface, uint32_t ts_div) {
    const uint64_t* const ts_of = r.slot_ts_ns;
    const uint32_t* const wire_of = r.slot_wire_len;
    const uint8_t* const dir_of = r.slot_direction;
    const bool filtering = !cfg_.filter.empty();
    const uint64_t limit = cfg_.count;
    Tally t;
    // The output cursor in registers too (same reason), stored back before anything that reads
    // the members (make_room, hand_over, maybe_flush).
    uint8_t* base = nullptr;
    size_t cap = 0, used = 0, fetched = 0, last_at = 0;
    const auto load_out = [&] {
      base = buf_ ? buf_->data : nullptr;
      cap = buf_ ? buf_->capacity : 0;
      used = used_;
      fetched = fetched_;
      last_at = last_at_;
    };
    const auto store_out = [&] {
      used_ = used;
      fetched_ = fetched;
      last_at_ = last_at;
    };
    load_out();
    Drained why = Drained::kAtTail;
    // Only an rxsync (on this thread) moves tail; read once, it stays in a register.
    const uint32_t tail = r.tail;
    uint32_t i = r.head;
    // The buffers of the next few slots (before tail: handed over) are asked for ahead of their
    // use (prefetch_slot_bytes).
    uint32_t ahead = i;
    for (uint32_t k = 0; k < kRxPrefetchSlots && ahead != tail; ++k) prefetch_slot_bytes(r, ahead), ahead = ring_next(r, ahead);
    while (i != tail) {
      if (ahead != tail) prefetch_slot_bytes(r, ahead), ahead = ring_next(r, ahead);
      const Slot s = load_slot(r.slot[i]);
      const uint8_t* data = rx_whole_slot(r, s);
      if (!data) {
        why = Drained::kOther;
        break;
      }
      const uint64_t wire = wire_of ? wire_of[i] : s.len;
      uint32_t caplen = std::min<uint32_t>(s.len, cfg_.snaplen);
      if (filtering) {
        const uint32_t keep = bpf_run(cfg_.filter.data(), data, s.len, clamp32(wire));
        if (keep == 0) {
          ++t.filtered;
          ++t.taken;
          i = ring_next(r, i);
          continue;
        }
        caplen = std::min(caplen, keep);
      }
      const uint32_t flags = dir_of ? dir_of[i] : 0;
      const uint32_t need = epb_size(caplen, flags);
      if (!base || cap - used < need) {
        store_out();
        merge(t);  // hand_over() reports progress_
        const Room room = make_room(need);
        load_out();
        if (room == Room::kStopped) {
          why = Drained::kStop;
          break;  // not taken: head stays at this packet
        }
        if (room == Room::kTooSmall) {
          ++progress_.invalid;
          ++t.taken;
          i = ring_next(r, i);
          continue;
        }
      }
      const uint64_t ts = ts_of ? ts_of[i] : r.ts_ns;
      if (used == 0) {
        filled_since_ = monotonic_ns();
        fetched = 0;
      }
      for (const size_t ahead = std::min(used + need + kOutPrefetchAhead, cap); fetched < ahead; fetched += 64)
        __builtin_prefetch(base + fetched, 1);
      last_at = used;
      uint8_t* out = base + used;
      copy_frame_bytes(out + kEpbHeaderBytes, data, caplen);
      used += epb_fields(out, iface, ts, ts_div, caplen, wire, flags);
      if (t.first_ts == 0) t.first_ts = ts;
      t.last_ts = ts;
      ++t.packets;
      ++t.taken;
      t.wire_bytes += wire;
      t.truncated += caplen < wire;
      i = ring_next(r, i);
      if (limit && progress_.packets + t.packets >= limit) {
        why = Drained::kStop;
        break;
      }
    }
    store_out();
    merge(t);
    r.head = r.cur = i;
    return why;
  }

  // The general walk (RxWalker: fragment chains, faulty slots) from head on, until the ring is
  // empty, a stop, or the next slot is a whole packet (kOther: drain_whole goes on from there).
  Drained drain_general(Ring& r, uint32_t iface, uint32_t ts_div) {
    RxWalker w(r);
    RxPacket p;
    Drained why = Drained::kAtTail;
    for (;;) {
      RxWalker::Step step = w.next(p);
      if (step == RxWalker::kEnd) break;
      if (step == RxWalker::kFault) {
        if (r.untrusted) {
          port_.protocol_violation(w.fault_text());
          why = Drained::kStop;
          break;
        }
        ++progress_.invalid;  // a slot we cannot read: skip the packet, count it
        take(w);
      } else {
        uint32_t caplen = uint32_t(std::min<uint64_t>(p.len, cfg_.snaplen));
        bool keep_it = true;
        if (!cfg_.filter.empty()) {
          const uint32_t keep = run_filter(w, p);
          if (keep == 0) {
            ++progress_.filtered;
            keep_it = false;
          }
          caplen = std::min(caplen, keep);
        }
        if (keep_it && !write_packet(w, iface, p.ts_ns, ts_div, caplen, p.wire_len, r.direction(p.first))) {
          why = Drained::kStop;
          break;
        }
        take(w);
        if (cfg_.count && progress_.packets >= cfg_.count) {
          why = Drained::kStop;
          break;
        }
      }
      const uint32_t at = w.cursor();
      if (at != r.tail && rx_whole_slot(r, load_slot(r.slot[at]))) {
        why = Drained::kOther;
        break;
      }
    }
    w.release();
    return why;
  }

  // Moves past the packet at the cursor: from here on it counts as taken from the ring, whether
  // it was written, filtered or skipped (the sender sees its slots come back at the next rxsync).
  void take(RxWalker& w) {
    w.consume();
    ++progress_.taken;
  }

  static uint32_t clamp32(uint64_t v) { return v > 0xffffffffull ? 0xffffffffu : uint32_t(v); }

  // The EPB around the caplen bytes already copied to out + kEpbHeaderBytes: its header (the
  // time in the interface's units) and trailer; returns the block's size.
  static uint32_t epb_fields(uint8_t* out, uint32_t iface, uint64_t ts_ns, uint32_t ts_div, uint32_t caplen, uint64_t wire,
                             uint32_t flags) {
    epb_begin(out, iface, ts_div == 1 ? ts_ns : ts_in_units(ts_ns, ts_div), caplen, clamp32(wire), flags);
    return epb_finish(out, caplen, flags);
  }

  // The filter's verdict on the packet next() returned: bytes to keep, 0 to drop. A packet spread
  // over several slots is gathered first.
  uint32_t run_filter(const RxWalker& w, const RxPacket& p) {
    const uint32_t wire32 = clamp32(p.wire_len);
    const auto& frags = w.fragments();
    if (frags.size() == 1) return bpf_run(cfg_.filter.data(), frags[0].data, frags[0].len, wire32);
    gather_.resize(size_t(p.len));
    const uint32_t n = w.copy(gather_.data(), p.len);
    return bpf_run(cfg_.filter.data(), gather_.data(), n, wire32);
  }

  enum class Room : uint8_t { kOk, kStopped, kTooSmall };
  // An output buffer with `need` bytes free at used_: the current one, or (after handing a
  // filled one over) a new one from JS; kStopped when a stop came while we waited for it.
  Room make_room(uint32_t need) {
    if (buf_ && buf_->capacity - used_ >= need) return Room::kOk;
    if (buf_ && used_) hand_over();
    if (!buf_) {
      buf_ = sink_.take_buffer(stop_);
      if (!buf_) return Room::kStopped;
      used_ = 0;
    }
    // A buffer smaller than one packet: cannot happen with sane sizes; the packet is skipped.
    return buf_->capacity < need ? Room::kTooSmall : Room::kOk;
  }

  // Where the next EPB (`need` bytes, make_room said they fit) goes.
  uint8_t* epb_at(uint32_t need) {
    if (used_ == 0) {
      filled_since_ = monotonic_ns();
      fetched_ = 0;
    }
    // The buffers JS lends are big and cold: ask for the lines ahead before storing into them.
    for (const size_t ahead = std::min(used_ + need + kOutPrefetchAhead, buf_->capacity); fetched_ < ahead; fetched_ += 64)
      __builtin_prefetch(buf_->data + fetched_, 1);
    last_at_ = used_;
    return buf_->data + used_;
  }

  // `flags` is the EPB's epb_flags (direction), 0 for none.
  bool write_packet(const RxWalker& w, uint32_t iface, uint64_t ts_ns, uint32_t ts_div, uint32_t caplen, uint64_t wire,
                    uint32_t flags) {
    const uint32_t need = epb_size(caplen, flags);
    const Room room = make_room(need);
    if (room == Room::kStopped) return false;
    if (room == Room::kTooSmall) {
      ++progress_.invalid;
      return true;
    }
    uint8_t* out = epb_at(need);
    w.copy(out + kEpbHeaderBytes, caplen);
    used_ += epb_fields(out, iface, ts_ns, ts_div, caplen, wire, flags);
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
  // Slots whose buffers drain_whole asks for ahead: enough packets' worth of work to cover a
  // transfer from the other core (measured on a pipe: 4-8% off the capture thread at 8 and 16).
  static constexpr uint32_t kRxPrefetchSlots = 16;
  size_t fetched_ = 0;  // buf_'s lines below this offset were prefetched
  uint64_t filled_since_ = 0;
  std::vector<uint8_t> gather_;  // a multi-slot packet, put together for the filter
  volatile uint32_t read_sink_ = 0;  // count_reads' sum, so the compiler keeps its loads
};

}  // namespace

CaptureResult run_capture(Port& port, const CaptureConfig& cfg, CaptureSink& sink, StopSignal& stop) {
  // Named, so that perf and top tell the capture thread from Node's own threads.
  pthread_setname_np(pthread_self(), "nmcap-capture");
  return CaptureRun(port, cfg, sink, stop).run();
}

}  // namespace nmc
