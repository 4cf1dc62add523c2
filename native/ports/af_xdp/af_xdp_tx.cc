// AF_XDP TX: slots handed to the TX ring as descriptors, kicks for copy mode, and the
// COMPLETION ring that decides when a slot is free again (see af_xdp_port.h).
#include "ports/af_xdp/af_xdp_port.h"

namespace nmc::af_xdp {

int AfXdpPort::txsync() {
  if (closed_) return -EBADF;
  if (!tx_sock_) return 0;
  Ring& r = tx_[0];
  XskSocket& s = *tx_sock_;
  if (int rc = sync_prologue(r, s.tx_sent, "txsync"); rc < 0) return rc;

  // Hand [old head, head) to the kernel. The TX ring is as large as ours, so there is room.
  uint32_t prod = s.tx_prod;
  for (uint32_t i = s.tx_sent; i != r.head; i = ring_next(r, i)) {
    const Slot& sl = r.slot[i];
    if (sl.buf_idx >= s.tx_chunks || sl.len == 0 || sl.len > s.chunk) {
      s.tx_sent_chunk[i] = kSkippedChunk;  // nothing valid to send: completes at once, like netmap drops it
      continue;
    }
    xdp_desc* d = s.tx.desc_at(prod++);
    d->addr = uint64_t(sl.buf_idx) * s.chunk;
    d->len = sl.len;
    d->options = 0;
    s.tx_sent_chunk[i] = sl.buf_idx;
  }
  s.tx_sent = r.head;
  if (prod != s.tx_prod) {
    s.tx.store_prod(prod);
    s.tx_prod = prod;
  }
  int rc = kick_tx(s);
  reap_completions(s, r);
  return rc;
}

// Copy mode transmits inside sendto(), at most `budget` packets per call; kick again while the
// kernel keeps taking descriptors. EAGAIN/EBUSY/ENOBUFS mean "try again later" (budget spent,
// socket send buffer full, or the driver busy/dropping).
int AfXdpPort::kick_tx(XskSocket& s) {
  for (uint32_t k = 0; k < max_kicks_; ++k) {
    uint32_t cons = s.tx.load_cons();
    if (cons == s.tx_prod) return 0;                    // the kernel took everything
    if (s.zero_copy && !s.tx.needs_wakeup()) return 0;  // the driver is polling on its own
    ssize_t rc = ::sendto(s.fd, nullptr, 0, MSG_DONTWAIT, nullptr, 0);
    if (rc < 0) {
      int e = errno;
      if (e == ENETDOWN || e == ENXIO) return gone(e);
      if (e != EAGAIN && e != EWOULDBLOCK && e != EBUSY && e != ENOBUFS && e != EINTR) {
        set_end(PortEnd::kError, errc::kIo, info_.name + ": sendto: " + std::strerror(e));
        return -e;
      }
    }
    if (s.zero_copy) return 0;
    if (s.tx.load_cons() == cons) return 0;  // no progress: wait for completions, then try again
  }
  return 0;
}

// COMPLETION ring: chunks whose packets left. Tail moves over slots in order once their chunk
// is back (completions may come out of order across CPUs).
void AfXdpPort::reap_completions(XskSocket& s, Ring& r) {
  uint32_t prod = s.comp.load_prod();
  if (prod != s.comp_cons) {
    uint32_t cons = s.comp_cons;
    for (; cons != prod; ++cons) {
      uint64_t chunk = *s.comp.addr_at(cons) / s.chunk;
      if (chunk < s.tx_chunks) ++s.tx_done[chunk];
    }
    s.comp.store_cons(cons);
    s.comp_cons = cons;
  }
  for (;;) {
    uint32_t n = ring_next(r, r.tail);
    if (n == s.tx_sent) break;
    uint32_t c = s.tx_sent_chunk[n];
    if (c != kSkippedChunk) {
      if (s.tx_done[c] == 0) break;
      --s.tx_done[c];
    }
    r.tail = n;
  }
}

}  // namespace nmc::af_xdp
