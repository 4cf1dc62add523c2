// The checks every sync and every slot walk applies, written once: netmap's sync prologue for
// the indices the user moves, a bound on the tail a backend or peer reports, and a slot's
// buffer index and length before a byte of its buffer is touched.
#pragma once

#include <cstdint>
#include <string>

#include "ring/ring.h"

namespace nmc {

// netmap's sync prologue: since the previous sync (head was old_head) the user may have moved
// head forward up to tail, and cur must lie in [head, tail].
inline bool head_cur_ok(const Ring& r, uint32_t old_head) {
  const uint32_t n = r.num_slots;
  if (r.head >= n || r.cur >= n || old_head >= n) return false;
  if (ring_dist(r, old_head, r.head) > ring_dist(r, old_head, r.tail)) return false;
  return ring_dist(r, r.head, r.cur) <= ring_dist(r, r.head, r.tail);
}

// What head_cur_ok refused, in words (without the ring's name).
inline std::string head_cur_error(const Ring& r, uint32_t old_head) {
  const uint32_t n = r.num_slots;
  if (r.head >= n || r.cur >= n)
    return "head " + std::to_string(r.head) + " / cur " + std::to_string(r.cur) + " beyond its " + std::to_string(n) +
           " slots";
  if (old_head >= n) return "the previous head " + std::to_string(old_head) + " is beyond the ring";
  if (ring_dist(r, old_head, r.head) > ring_dist(r, old_head, r.tail))
    return "head " + std::to_string(r.head) + " moved past tail " + std::to_string(r.tail) + " (it was " +
           std::to_string(old_head) + ")";
  return "cur " + std::to_string(r.cur) + " is outside [head " + std::to_string(r.head) + ", tail " +
         std::to_string(r.tail) + "]";
}

// A new tail reported by the backend side (a kernel ring, or a pipe peer through shared memory):
// it only moves forward from old_tail and never reaches head (one slot always stays empty), on
// RX (received slots) as on TX (completed slots).
inline bool tail_move_ok(const Ring& r, uint32_t old_tail, uint32_t new_tail) {
  if (new_tail >= r.num_slots || old_tail >= r.num_slots || r.head >= r.num_slots) return false;
  return ring_dist(r, old_tail, new_tail) <= ring_dist(r, old_tail, ring_prev(r, r.head));
}

inline std::string tail_move_error(const Ring& r, uint32_t old_tail, uint32_t new_tail) {
  if (new_tail >= r.num_slots)
    return "tail " + std::to_string(new_tail) + " beyond its " + std::to_string(r.num_slots) + " slots";
  return "tail moved from " + std::to_string(old_tail) + " to " + std::to_string(new_tail) + ", past head " +
         std::to_string(r.head) + " (into slots the user owns)";
}

// Why a slot (a load_slot copy) cannot be used.
enum class SlotFault : uint8_t {
  kNone = 0,
  kBufIdx,    // buf_idx names no buffer of the ring
  kLen,       // len over the buffer size (RX: the readable-length rule)
  kIndirect,  // NS_INDIRECT in a ring shared with another process
  kNullPtr,   // NS_INDIRECT without an address
};

// Checks a slot before its buffer is read (check_len: RX) or written (TX sets len itself).
inline SlotFault check_slot(const Ring& r, const Slot& s, bool check_len) {
  if (s.flags & NS_INDIRECT) {
    if (r.untrusted) return SlotFault::kIndirect;
    return s.ptr ? SlotFault::kNone : SlotFault::kNullPtr;
  }
  if (!r.valid_buf(s.buf_idx)) return SlotFault::kBufIdx;
  if (check_len && s.len > r.buf_size) return SlotFault::kLen;
  return SlotFault::kNone;
}

// Where the bytes of a checked slot are.
inline const uint8_t* slot_bytes(const Ring& r, const Slot& s) {
  if (s.flags & NS_INDIRECT) return reinterpret_cast<const uint8_t*>(uintptr_t(s.ptr));
  return r.buf(s.buf_idx);
}

inline std::string slot_fault_text(const Ring& r, uint32_t i, const Slot& s, SlotFault f) {
  std::string at = std::string(r.is_tx ? "tx" : "rx") + " ring " + std::to_string(r.index) + " slot " + std::to_string(i);
  switch (f) {
    case SlotFault::kBufIdx:
      return at + " names buffer " + std::to_string(s.buf_idx) + ", beyond the ring's " + std::to_string(r.num_bufs) +
             " buffers";
    case SlotFault::kLen:
      return at + " says len " + std::to_string(s.len) + ", over the " + std::to_string(r.buf_size) + "-byte buffer";
    case SlotFault::kIndirect:
      return at + " is marked NS_INDIRECT, which a ring shared with another process cannot carry";
    case SlotFault::kNullPtr:
      return at + " is marked NS_INDIRECT without an address";
    default:
      return at + " is fine";
  }
}

}  // namespace nmc
