// Shared-memory pipes ("pipe:NAME{N", "pipe:NAME}N"): the rings, their syncs and waits (see
// pipe_port.h for the design).
#include "ports/pipe/pipe_port.h"

#include <algorithm>

namespace nmc::pipe {

PipePort::PipePort(const PipeName& pn, const OpenOptions& opts) : pn_(pn), opts_(opts) {
  role_ = pn.master ? kMaster : kSlave;
  info_.name = "pipe:" + pn.text();
  info_.backend = "pipe";
  info_.ifname = info_.name;
  info_.description = std::string("nmcap shared-memory pipe, ") + (pn.master ? "master" : "slave") + " end of " +
                      pn.base + " pipe " + pn.number;
  info_.link_type = 1;
  info_.ts_source = TsSource::kSyncNanos;
  info_.tx_fragments = true;  // the receiving loop joins NS_MOREFRAG chains
  info_.knows_rx_drops = true;  // a pipe never drops: the sender waits
  info_.knows_rx_received = true;
  info_.mode = "shared memory";
  try {
    open_rendezvous();
  } catch (...) {
    close();
    throw;
  }
}

int PipePort::txsync() {
  if (!shm_) return -EBADF;
  if (end() == PortEnd::kError) return -EPROTO;
  for (Ring& r : tx_) {
    PipeRingCtl& c = out_ctl();
    if (int rc = sync_prologue(r, tx_synced_head_, "txsync"); rc < 0) return rc;
    tx_synced_head_ = r.head;
    c.prod.store(r.head, std::memory_order_release);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (c.rx_waiting.load(std::memory_order_relaxed) && c.rx_waiting.exchange(0)) notify();
    // cons is the peer's: it may only move forward, up to what we published.
    uint32_t cons = c.cons.load(std::memory_order_acquire);
    uint32_t tail = cons < r.num_slots ? ring_prev(r, cons) : cons;  // out of range: refused below
    if (!tail_move_ok(r, r.tail, tail))
      return protocol_violation("the other end moved its consumer index to " + std::to_string(cons) +
                                ": " + tail_move_error(r, r.tail, tail));
    r.tail = tail;
    if (peer_gone() && tx_pending(r)) return ended();  // what is pending can never be consumed
  }
  return 0;
}

int PipePort::rxsync() {
  if (!shm_) return -EBADF;
  if (end() == PortEnd::kError) return -EPROTO;
  for (Ring& r : rx_) {
    PipeRingCtl& c = in_ctl();
    if (int rc = sync_prologue(r, rx_synced_head_, "rxsync"); rc < 0) return rc;
    rx_synced_head_ = r.head;
    c.cons.store(r.head, std::memory_order_release);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (uint32_t want = c.tx_waiting.load(std::memory_order_acquire)) {
      uint32_t base = c.tx_wait_base.load(std::memory_order_relaxed);
      uint32_t moved = r.head >= base ? r.head - base : r.head + r.num_slots - base;
      if (moved >= want && c.tx_waiting.exchange(0)) notify();
    }
    uint32_t old_tail = r.tail;
    // prod is the peer's: it may only move forward, never into slots we still hold.
    uint32_t prod = c.prod.load(std::memory_order_acquire);
    if (!tail_move_ok(r, old_tail, prod))
      return protocol_violation("the other end moved its producer index to " + std::to_string(prod) + ": " +
                                tail_move_error(r, old_tail, prod));
    r.tail = prod;
    r.ts_ns = realtime_ns();
    for (uint32_t i = old_tail; i != r.tail; i = ring_next(r, i))
      if (!(load_slot(r.slot[i]).flags & NS_MOREFRAG)) ++rx_packets_;
  }
  return 0;
}

int PipePort::wait(unsigned events, int timeout_ms, int wake_fd) {
  if (!shm_) return -EBADF;
  return wait_loop(events, timeout_ms, wake_fd);
}

PortCounters PipePort::counters() {
  PortCounters c;
  if (!rx_.empty()) {
    c.rx_received = rx_packets_;
    c.rx_drops = 0;  // by construction: a pipe has no place to drop (the sender waits instead)
  }
  return c;
}

void PipePort::close() {
  stop_acceptor();
  if (sock_ >= 0) {
    if (connected_ && !peer_gone()) {
      uint8_t bye = kMsgBye;
      ::send(sock_, &bye, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    ::close(sock_);
    sock_ = -1;
  }
  connected_ = false;
  for (int* f : {&conn_efd_, &wake_efd_[0], &wake_efd_[1], &poll_epfd_}) {
    if (*f >= 0) ::close(*f);
    *f = -1;
  }
  if (memfd_ >= 0) ::close(memfd_);
  memfd_ = -1;
  if (shm_) {
    ::munmap(shm_, shm_size_);
    shm_ = nullptr;
  }
  tx_.clear();
  rx_.clear();
}

int PipePort::block(unsigned events, uint64_t timeout_ns, int wake_fd) {
  const uint32_t budget = spin_budget_;
  for (uint32_t i = 0; i < budget; ++i) {
    if (shared_moved(events)) {
      spin_budget_ = std::min(2 * budget, kSpinMax);
      return 0;
    }
    cpu_relax();
  }
  spin_budget_ = std::max(budget / 2, kSpinMin);
  set_waiting(events, 1);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (shared_moved(events)) {
    set_waiting(events, 0);
    return 0;
  }
  int ms = timeout_ns == UINT64_MAX ? -1 : int(std::min<uint64_t>((timeout_ns + 999999) / 1000000, INT32_MAX));
  // Before a peer arrives, the acceptor thread signals conn_efd_; after, the peer wakes us on our
  // eventfd and says goodbye (or hangs up) on sock_.
  const bool connected = connected_.load(std::memory_order_acquire);
  pollfd pfd[3];
  nfds_t n = 0;
  pfd[n++] = {connected ? sock_ : conn_efd_, POLLIN, 0};
  const nfds_t at_wake = connected ? n++ : 0;
  if (connected) pfd[at_wake] = {wake_efd_[role_], POLLIN, 0};
  const nfds_t at_stop = wake_fd >= 0 ? n++ : 0;
  if (wake_fd >= 0) pfd[at_stop] = {wake_fd, POLLIN, 0};
  int pr = ::poll(pfd, n, ms);
  set_waiting(events, 0);
  if (pr < 0) return errno == EINTR ? 0 : -errno;
  if (pr > 0 && pfd[0].revents) service_socket();
  if (at_wake && pfd[at_wake].revents) {
    uint64_t v;
    (void)!::read(wake_efd_[role_], &v, sizeof v);
  }
  if (at_stop && (pfd[at_stop].revents & POLLIN)) return kWaitWoken;
  return 0;
}

// Has the peer moved the shared counters since our last sync? (No syscall, no state change.)
bool PipePort::shared_moved(unsigned events) {
  if ((events & kWaitRx) && !rx_.empty() && in_ctl().prod.load(std::memory_order_acquire) != rx_[0].tail) return true;
  if ((events & (kWaitTx | kWaitTxProgress)) && !tx_.empty()) {
    const Ring& r = tx_[0];
    uint32_t cons = out_ctl().cons.load(std::memory_order_acquire);
    if ((cons == 0 ? r.num_slots - 1 : cons - 1) != r.tail) return true;
  }
  return false;
}

void PipePort::set_waiting(unsigned events, uint32_t v) {
  if ((events & kWaitRx) && !rx_.empty()) in_ctl().rx_waiting.store(v, std::memory_order_relaxed);
  if ((events & (kWaitTx | kWaitTxProgress)) && !tx_.empty()) {
    PipeRingCtl& c = out_ctl();
    if (!v) {
      c.tx_waiting.store(0, std::memory_order_relaxed);
      return;
    }
    // Waiting for room: worth a wake-up once a quarter of the ring is free (or everything
    // pending was taken). Waiting for progress while draining: any completion.
    const Ring& r = tx_[0];
    uint32_t pending = tx_pending_count(r);
    uint32_t want = (events & kWaitTxProgress) ? 1 : std::max<uint32_t>(1, std::min(r.num_slots / 4, pending));
    c.tx_wait_base.store(c.cons.load(std::memory_order_relaxed), std::memory_order_relaxed);
    c.tx_waiting.store(want, std::memory_order_release);
  }
}

// Once the peer is gone, waiting for it is pointless: say why (after what was left was drained).
int PipePort::ended() {
  if (peer_end_.load() == PortEnd::kPeerClosed)
    set_end(PortEnd::kPeerClosed, errc::kPeerClosed, "the other end of pipe:" + pn_.text() + " closed");
  else
    set_end(PortEnd::kPeerDied, errc::kPeerDied,
            "the other end of pipe:" + pn_.text() + " (process " + std::to_string(peer_pid_) + ") went away without closing");
  return -EPIPE;
}

}  // namespace nmc::pipe

namespace nmc {

std::unique_ptr<Port> open_pipe_port(const std::string& spec, const OpenOptions& opts) {
  return std::make_unique<pipe::PipePort>(parse_pipe_name(spec), opts);
}

}  // namespace nmc
