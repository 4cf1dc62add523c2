// What the replay put into each TX slot, in the sender's own memory. The slot array of a ring
// shared with another process (a pipe) can be written by the peer at any time, so the counts of
// pending packets and bytes are never taken from the slots' len and flags: a hostile peer could
// make every slot a fragment (nothing pending, all "sent") or any length. Only the ring's
// indices, which the backend checks at every sync (ring/checks.h), say which slots are pending.
#pragma once

#include <cstdint>
#include <vector>

#include "ring/ring.h"

namespace nmc {

class TxLedger {
 public:
  void reset(const Ring& r) { bytes_.assign(r.num_slots, 0); }

  // A packet of len bytes went into the slots [from, to) (to = the head after the put): its bytes
  // are booked on its last slot, the others (its leading fragments) hold 0.
  void put(const Ring& r, uint32_t from, uint32_t to, uint32_t len) {
    if (bytes_.size() != r.num_slots || from >= r.num_slots || to >= r.num_slots) return;
    for (uint32_t i = from; i != to; i = ring_next(r, i)) bytes_[i] = 0;
    bytes_[ring_prev(r, to)] = len;
  }

  // put() for packets of one slot each, in a loop: booked[i] = len for the packet in slot i
  // (< num_slots, the ring reset() saw). A plain array, so the loop keeps it in a register.
  uint32_t* booked() { return bytes_.data(); }

  // Packets and bytes handed to the backend and not yet completed: the slots after tail up to head.
  void pending(const Ring& r, uint64_t* packets, uint64_t* bytes) const {
    *packets = *bytes = 0;
    if (bytes_.size() != r.num_slots || r.num_slots == 0 || r.tail >= r.num_slots || r.head >= r.num_slots) return;
    for (uint32_t i = ring_next(r, r.tail); i != r.head; i = ring_next(r, i)) {
      if (bytes_[i] == 0) continue;
      ++*packets;
      *bytes += bytes_[i];
    }
  }

 private:
  std::vector<uint32_t> bytes_;
};

}  // namespace nmc
