// The ring model every backend presents: netmap's rings, slots and indices.
//
// A ring has num_slots slots; the user owns [head, tail), the backend ("kernel side") owns
// [tail, head). One slot is always kept empty, so at most num_slots - 1 slots are usable.
// The user writes head and cur only; the backend writes tail only (during txsync/rxsync/poll).
// Indices only move forward (mod num_slots), and num_slots need not be a power of two.
//
// TX ring: [head, tail) are free slots the user may fill; txsync hands [old head, head) to the
// backend and moves tail forward over slots whose packets have left.
// RX ring: [head, tail) are received packets; rxsync takes back [old head, head) and moves tail
// forward over newly received slots.
#pragma once

#include <cstddef>
#include <cstdint>

namespace nmc {

// Slot flags, values as in netmap's <net/netmap.h>.
enum : uint16_t {
  NS_BUF_CHANGED = 0x0001,  // buf_idx changed: the backend must re-read it
  NS_REPORT = 0x0002,       // ask for a completion report
  NS_FORWARD = 0x0004,
  NS_NO_LEARN = 0x0008,
  NS_INDIRECT = 0x0010,     // data is at slot.ptr (a process address), not in buffer buf_idx
  NS_MOREFRAG = 0x0020,  // packet continues in the next slot; len is this fragment's length
};

// Same layout as struct netmap_slot (16 bytes), so the netmap backend can point at the
// kernel's slot array directly.
struct Slot {
  uint32_t buf_idx;
  uint16_t len;
  uint16_t flags;
  uint64_t ptr;
};
static_assert(sizeof(Slot) == 16, "Slot must match struct netmap_slot");

// What a timestamp in a ring or slot really is, so pcapng IDBs can say it (if_tsresol) and
// nobody invents precision a backend does not have.
enum class TsSource : uint8_t {
  kNone = 0,        // backend gives no time at all
  kSyncMicros = 1,  // one realtime stamp per rxsync, microsecond resolution (netmap)
  kSyncNanos = 2,   // one realtime stamp per rxsync, taken with clock_gettime (pipes, AF_XDP)
  kPacketNanos = 3, // a stamp per packet from the kernel (AF_PACKET tp_sec/tp_nsec)
};

// Which way a captured packet went through the interface. The values are pcapng's epb_flags
// direction bits, so the capture loop writes them as they are.
enum PacketDirection : uint8_t { kDirUnknown = 0, kDirInbound = 1, kDirOutbound = 2 };

struct Ring {
  uint32_t num_slots = 0;
  uint32_t buf_size = 0;    // usable bytes per buffer (netmap's nr_buf_size)
  uint32_t buf_stride = 0;  // distance between buffers when it differs from buf_size (AF_PACKET
                            // TX frames carry a header before the data); 0 = buf_size
  uint32_t head = 0;      // (u) first slot owned by the user
  uint32_t cur = 0;       // (u) wake-up point: poll() waits until tail passes cur
  uint32_t tail = 0;      // (k) first slot owned by the backend
  uint32_t flags = 0;
  uint32_t index = 0;     // ring number within its direction
  bool is_tx = false;

  // Time of the last rxsync, in nanoseconds since the Unix epoch (0 if none yet).
  uint64_t ts_ns = 0;
  TsSource ts_source = TsSource::kNone;

  Slot* slot = nullptr;         // num_slots entries
  uint8_t* buf_base = nullptr;  // buffer i lives at buf_base + i * buf_size
  // Number of valid buffer indices, so loops can refuse a slot whose buf_idx came from a peer
  // we do not trust (shared memory) instead of reading outside the mapping. 0 = unchecked.
  uint32_t num_bufs = 0;
  // The slot array and the indices live in memory another process can write (a pipe peer):
  // every value is read once (load_slot) and checked before use, and NS_INDIRECT is refused,
  // since a pointer written by another process means nothing (or anything) in ours.
  bool untrusted = false;
  // Backends with per-packet kernel timestamps fill this (one entry per slot, ns since epoch);
  // nullptr means "use ts_ns for every slot of the batch".
  uint64_t* slot_ts_ns = nullptr;
  // Backends whose kernel truncates (snaplen) fill this with each packet's length on the wire;
  // nullptr means slot.len is the whole packet.
  uint32_t* slot_wire_len = nullptr;
  // Backends that know whether each packet was received or sent by the interface (AF_PACKET)
  // fill this with a PacketDirection per slot; nullptr means unknown.
  uint8_t* slot_direction = nullptr;

  uint8_t* buf(uint32_t buf_idx) const { return buf_base + size_t(buf_idx) * (buf_stride ? buf_stride : buf_size); }
  bool valid_buf(uint32_t buf_idx) const { return num_bufs == 0 || buf_idx < num_bufs; }
  uint64_t slot_time(uint32_t i) const { return slot_ts_ns ? slot_ts_ns[i] : ts_ns; }
  uint32_t wire_len(uint32_t i) const { return slot_wire_len ? slot_wire_len[i] : slot[i].len; }
  uint8_t direction(uint32_t i) const { return slot_direction ? slot_direction[i] : uint8_t(kDirUnknown); }
};

// One read of a slot that another process may be writing: the checks and the use that follow
// see the same values (reading the shared slot twice would let a peer change it in between).
inline Slot load_slot(const Slot& s) {
  static_assert(offsetof(Slot, ptr) == 8, "Slot: buf_idx, len, flags fill the first 8 bytes");
  const uint64_t* w = reinterpret_cast<const uint64_t*>(&s);
  uint64_t w0 = __atomic_load_n(&w[0], __ATOMIC_RELAXED);
  uint64_t w1 = __atomic_load_n(&w[1], __ATOMIC_RELAXED);
  Slot out;
  __builtin_memcpy(&out, &w0, 8);
  out.ptr = w1;
  return out;
}

inline uint32_t ring_next(const Ring& r, uint32_t i) { return i + 1 == r.num_slots ? 0 : i + 1; }
inline uint32_t ring_prev(const Ring& r, uint32_t i) { return i == 0 ? r.num_slots - 1 : i - 1; }

// Slots from `from` forward to `to` (both < num_slots).
inline uint32_t ring_dist(const Ring& r, uint32_t from, uint32_t to) {
  return to >= from ? to - from : to + r.num_slots - from;
}

// Slots available to the user: on RX, packets to read; on TX, free slots to fill.
inline uint32_t ring_space(const Ring& r) {
  int64_t n = int64_t(r.tail) - int64_t(r.head);
  if (n < 0) n += r.num_slots;
  return uint32_t(n);
}

inline bool ring_empty(const Ring& r) { return r.head == r.tail; }

// TX only: are there slots handed to the backend whose packets have not left yet?
inline bool tx_pending(const Ring& r) { return ring_next(r, r.tail) != r.head; }

// TX only: how many slots are handed over and not yet completed.
inline uint32_t tx_pending_count(const Ring& r) {
  // Usable capacity is num_slots - 1; free slots are ring_space.
  return r.num_slots - 1 - ring_space(r);
}

}  // namespace nmc
