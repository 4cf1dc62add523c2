// AF_XDP RX: RX descriptors become NS_INDIRECT slots pointing into the UMEM, and chunks of
// released slots go back to the FILL ring (see af_xdp_port.h).
#include "ports/af_xdp/af_xdp_port.h"

namespace nmc::af_xdp {

int AfXdpPort::rxsync() {
  if (closed_) return -EBADF;
  for (size_t k = 0; k < rx_.size(); ++k) {
    Ring& r = rx_[k];
    XskSocket& s = *rx_socks_[k];
    if (int rc = sync_prologue(r, s.rx_released, "rxsync"); rc < 0) return rc;

    // Released slots: their chunks go back to FILL (sized to hold every RX chunk).
    uint32_t fprod = s.fill_prod;
    for (uint32_t i = s.rx_released; i != r.head; i = ring_next(r, i)) *s.fill.addr_at(fprod++) = s.rx_slot_chunk[i];
    s.rx_released = r.head;
    if (fprod != s.fill_prod) {
      s.fill.store_prod(fprod);
      s.fill_prod = fprod;
      // Zero-copy drivers may sleep once FILL ran dry; copy mode never sets the flag.
      if (s.fill.needs_wakeup()) ::recvfrom(s.fd, nullptr, 0, MSG_DONTWAIT, nullptr, nullptr);
    }

    // New packets, as many as our ring has room for (usable capacity num_slots - 1).
    uint32_t room = r.num_slots - 1 - ring_space(r);
    uint32_t prod = s.rx.load_prod();
    extend_u32(s.rx_produced, prod);
    uint32_t n = std::min(uint32_t(prod - s.rx_cons), room);
    if (n == 0) continue;
    uint32_t cons = s.rx_cons;
    const uint64_t chunk_mask = ~uint64_t(s.chunk - 1);
    for (uint32_t j = 0; j < n; ++j) {
      const xdp_desc* d = s.rx.desc_at(cons++);
      Slot& sl = r.slot[r.tail];
      sl.ptr = uint64_t(uintptr_t(s.umem + d->addr));
      sl.len = uint16_t(d->len);
      sl.flags = NS_INDIRECT;
      sl.buf_idx = uint32_t(d->addr / s.chunk);
      s.rx_slot_chunk[r.tail] = d->addr & chunk_mask;
      r.tail = ring_next(r, r.tail);
    }
    s.rx.store_cons(cons);
    s.rx_cons = cons;
    r.ts_ns = realtime_ns();
  }
  return 0;
}

}  // namespace nmc::af_xdp
