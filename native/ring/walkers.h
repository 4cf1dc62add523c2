// The slot walkers every user of the rings shares: the capture loop, the replay loop and the
// Port API (receive(), inject()), so tests of the Port API run the production paths.
//
// RX: RxWalker walks [head, tail) packet by packet, joining NS_MOREFRAG chains (a packet counts
// only once its last slot is here) and applying the readable-length rule (a slot's len must fit
// its buffer). Each slot is read once (load_slot) and checked before its buffer is read; the
// fragments found are kept, so copying never reads the shared slot array again.
//
// TX: tx_put copies one packet into free slots from head on, split over several slots with
// NS_MOREFRAG when the port takes fragments, after checking each slot's buf_idx.
//
// A slot that fails its check on a ring shared with another process (Ring::untrusted) breaks the
// ring protocol: the caller ends the port (Port::protocol_violation) instead of skipping it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "ring/checks.h"
#include "ring/port.h"
#include "ring/ring.h"

namespace nmc {

struct RxFragment {
  const uint8_t* data;
  uint32_t len;
};

// One packet found by RxWalker::next.
struct RxPacket {
  uint32_t first = 0;     // its first slot
  uint32_t slots = 0;     // how many slots it spans
  uint64_t len = 0;       // bytes in its slots (the sum of the fragments' lengths)
  uint64_t wire_len = 0;  // length on the wire (more than len when the backend truncated)
  uint64_t ts_ns = 0;     // the first slot's time
};

class RxWalker {
 public:
  enum Step : uint8_t {
    kPacket,  // a whole packet is at the cursor
    kEnd,     // nothing (complete) left before tail
    kFault,   // a slot of the packet at the cursor failed its check (fault_text() says which)
  };

  explicit RxWalker(Ring& r) : r_(r), cur_(r.head), next_(r.head) { frags_.reserve(4); }

  // Looks at the packet under the cursor without consuming it.
  Step next(RxPacket& p) {
    frags_.clear();
    fault_ = SlotFault::kNone;
    p = RxPacket{};
    p.first = cur_;
    p.ts_ns = r_.slot_time(cur_);
    for (uint32_t i = cur_; i != r_.tail; i = ring_next(r_, i)) {
      const Slot s = load_slot(r_.slot[i]);
      ++p.slots;
      SlotFault f = check_slot(r_, s, true);
      if (f != SlotFault::kNone && fault_ == SlotFault::kNone) {
        fault_ = f;
        fault_slot_ = i;
        fault_copy_ = s;
        // Nothing of a shared ring is worth reading further once it broke the protocol.
        if (r_.untrusted) return kFault;
      }
      if (fault_ == SlotFault::kNone) {
        frags_.push_back({slot_bytes(r_, s), s.len});
        p.len += s.len;
      }
      p.wire_len += r_.slot_wire_len ? r_.slot_wire_len[i] : s.len;
      if (!(s.flags & NS_MOREFRAG)) {
        next_ = ring_next(r_, i);
        return fault_ == SlotFault::kNone ? kPacket : kFault;
      }
    }
    return kEnd;  // empty, or the rest of the chain has not arrived yet
  }

  // Moves the cursor past what next() just returned (a packet, or a faulty one to skip).
  void consume() { cur_ = next_; }

  // Copies the first `cap` bytes of the packet next() returned; returns how many it copied.
  uint32_t copy(uint8_t* out, uint64_t cap) const {
    uint64_t done = 0;
    for (const RxFragment& f : frags_) {
      if (done >= cap) break;
      uint32_t n = uint32_t(std::min<uint64_t>(f.len, cap - done));
      std::memcpy(out + done, f.data, n);
      done += n;
    }
    return uint32_t(done);
  }

  const std::vector<RxFragment>& fragments() const { return frags_; }
  std::string fault_text() const { return slot_fault_text(r_, fault_slot_, fault_copy_, fault_); }

  // Gives the consumed slots to the backend at the next rxsync: head = cur = cursor.
  void release() { r_.head = r_.cur = cur_; }
  uint32_t cursor() const { return cur_; }

 private:
  Ring& r_;
  uint32_t cur_, next_;
  std::vector<RxFragment> frags_;
  SlotFault fault_ = SlotFault::kNone;
  uint32_t fault_slot_ = 0;
  Slot fault_copy_{};
};

// The common case of RxWalker::next without its generality, for loops that walk slots themselves
// (the capture loop's fast path): the bytes of slot copy `s` when it is a whole packet (no
// NS_MOREFRAG) that passes check_slot with the readable-length rule; nullptr otherwise, and the
// caller hands that slot to an RxWalker, which says what is wrong with it or joins the chain.
inline const uint8_t* rx_whole_slot(const Ring& r, const Slot& s) {
  if ((s.flags & NS_MOREFRAG) || check_slot(r, s, true) != SlotFault::kNone) return nullptr;
  return slot_bytes(r, s);
}

// Asks the cache for the first line of slot i's buffer ahead of its use by an RX loop. Why: a
// packet's bytes were last written on the other core, so the first touch of each buffer is a
// cache-line transfer the loop would otherwise wait for, packet by packet. The slot is read and
// checked as for its use: a bad index prefetches nothing. Only for slots the other side has
// handed over (before tail): a line it is still writing would be pulled away from it.
inline void prefetch_slot_bytes(const Ring& r, uint32_t i) {
  const Slot s = load_slot(r.slot[i]);
  if (check_slot(r, s, false) == SlotFault::kNone) __builtin_prefetch(slot_bytes(r, s), 0);
}

// One slot's readable bytes, for code that looks at slots one by one (the Port API's readBuf):
// its data and *len when it passes check_slot with the readable-length rule, else nullptr and
// *fault says why.
inline const uint8_t* slot_view(const Ring& r, uint32_t i, uint32_t* len, SlotFault* fault = nullptr) {
  const Slot s = load_slot(r.slot[i]);
  SlotFault f = check_slot(r, s, true);
  if (fault) *fault = f;
  if (f != SlotFault::kNone) return nullptr;
  *len = s.len;
  return slot_bytes(r, s);
}

// The most one slot can carry: its buffer, and what slot.len can say.
inline uint32_t tx_slot_capacity(const Ring& r) { return std::min<uint32_t>(r.buf_size, 0xffff); }

// Slots a packet of len bytes takes on this ring.
inline uint32_t tx_slots_for(const Ring& r, uint32_t len, bool fragments) {
  const uint32_t cap = tx_slot_capacity(r);
  return fragments && len > cap ? (len + cap - 1) / cap : 1;
}

// The largest frame a port's TX ring takes: the backend's limit, and without fragments one
// slot; with fragments and no backend limit, what an IP packet can be, as far as the usable
// slots (num_slots - 1) hold it.
inline uint32_t tx_max_frame(const PortInfo& info, const Ring& r) {
  uint32_t m = info.max_frame;
  if (!info.tx_fragments) return m ? std::min(m, tx_slot_capacity(r)) : tx_slot_capacity(r);
  uint64_t ring_bytes = uint64_t(r.num_slots - 1) * tx_slot_capacity(r);
  return uint32_t(std::min<uint64_t>(m ? m : 65535, ring_bytes));
}

// memcpy for the frames most replays and captures are made of (16 to 128 bytes: 64-byte test
// traffic) as a few 16-byte moves, inline, instead of a call into the library's memcpy and its
// size dispatch per packet. No byte outside [src, src + n) is read (the last move overlaps the one
// before), none outside [dst, dst + n) written.
inline void copy_frame_bytes(uint8_t* dst, const uint8_t* src, uint32_t n) {
  if (n < 16 || n > 128) {
    std::memcpy(dst, src, n);
    return;
  }
  for (uint32_t k = 0; k + 16 < n; k += 16) std::memcpy(dst + k, src + k, 16);
  std::memcpy(dst + n - 16, src + n - 16, 16);
}

enum class TxPut : uint8_t {
  kOk,
  kNoRoom,  // fewer free slots than the packet needs
  kTooBig,  // more than one slot holds and the port takes no fragments (or more than the ring)
  kFault,   // a slot names no valid buffer (*fault says which): the port must end
};

// Copies one packet into the free slots from head on, then head = cur = past it (no sync).
// Each slot is read once and its buf_idx checked before a byte is written; on a fault nothing
// is handed over (head stays).
inline TxPut tx_put(Ring& r, const uint8_t* src, uint32_t len, bool fragments, std::string* fault = nullptr) {
  const uint32_t cap = tx_slot_capacity(r);
  if (len > cap && !fragments) return TxPut::kTooBig;
  const uint32_t need = tx_slots_for(r, len, fragments);
  if (need > r.num_slots - 1) return TxPut::kTooBig;
  if (ring_space(r) < need) return TxPut::kNoRoom;
  uint32_t i = r.head, off = 0;
  for (uint32_t k = 0; k < need; ++k, i = ring_next(r, i)) {
    const Slot s = load_slot(r.slot[i]);
    // TX copies into our buffers only: an NS_INDIRECT slot is a buffer index we did not check.
    Slot as_buf = s;
    as_buf.flags &= uint16_t(~NS_INDIRECT);
    SlotFault f = check_slot(r, as_buf, false);
    if (f != SlotFault::kNone) {
      if (fault) *fault = slot_fault_text(r, i, s, f);
      return TxPut::kFault;
    }
    const uint32_t n = std::min(len - off, cap);
    copy_frame_bytes(r.buf(s.buf_idx), src + off, n);
    off += n;
    Slot& out = r.slot[i];
    out.len = uint16_t(n);
    out.flags = k + 1 < need ? NS_MOREFRAG : 0;
  }
  r.head = r.cur = i;
  return TxPut::kOk;
}

}  // namespace nmc
