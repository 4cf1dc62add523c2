// The parts of the port interface every backend shares: readiness and the wait template.
#include "ring/port.h"

#include <cerrno>

#include "ring/clock.h"

namespace nmc {

void Port::snapshot_tx_tails() {
  tx_tails0_.resize(tx_.size());
  for (size_t i = 0; i < tx_.size(); ++i) tx_tails0_[i] = tx_[i].tail;
}

bool Port::rings_ready(unsigned events) const {
  if (events & kWaitRx)
    for (const Ring& r : rx_)
      if (!ring_empty(r)) return true;
  bool any_pending = false;
  for (size_t i = 0; i < tx_.size(); ++i) {
    const Ring& t = tx_[i];
    if ((events & kWaitTx) && ring_space(t) > 0) return true;
    if ((events & kWaitTxProgress) && i < tx_tails0_.size() && t.tail != tx_tails0_[i]) return true;
    any_pending = any_pending || tx_pending(t);
  }
  // Draining: ready once a completion happened (above) or nothing is pending on any ring.
  return (events & kWaitTxProgress) && !tx_.empty() && !any_pending;
}

int Port::wait_loop(unsigned events, int timeout_ms, int wake_fd) {
  const bool want_rx = (events & kWaitRx) && !rx_.empty();
  const bool want_tx = (events & (kWaitTx | kWaitTxProgress)) && !tx_.empty();
  if (!want_rx && !want_tx) return -EINVAL;  // nothing this port could ever become ready for
  const uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : monotonic_ns() + uint64_t(timeout_ms) * 1000000ull;
  snapshot_tx_tails();
  TxBackoff backoff;
  bool blocked = false;  // block at least once, so a zero timeout still looks at the fds
  for (;;) {
    if (int rc = sync_for(events); rc < 0) return rc;
    if (rings_ready(events)) return kWaitReady;
    const uint64_t now = monotonic_ns();
    uint64_t slice = deadline == UINT64_MAX ? UINT64_MAX : (deadline > now ? deadline - now : 0);
    if (int rc = idle_check(events, now, &slice); rc < 0) return rc;
    if (blocked && now >= deadline) return kWaitTimeout;
    if (want_tx && !tx_completion_wakes() && tx_pending_total() > 0) slice = std::min(slice, backoff.step());
    blocked = true;
    if (int rc = block(events, slice, wake_fd); rc != 0) return rc;
  }
}

}  // namespace nmc
