// AF_XDP ports ("af_xdp:IF"): the Port glue: opening and closing, waiting, liveness checks and
// counters (see af_xdp_port.h for how the rings are presented, af_xdp_setup.cc for opening).
#include "ports/af_xdp/af_xdp_port.h"

namespace nmc::af_xdp {

AfXdpPort::AfXdpPort(const std::string& ifname, const OpenOptions& opts) : ifname_(ifname), opts_(opts) {
  info_.name = "af_xdp:" + ifname;
  info_.backend = "af_xdp";
  info_.ifname = ifname;
  info_.link_type = 1;
  info_.ts_source = TsSource::kSyncNanos;
  try {
    open();
  } catch (...) {
    close();
    throw;
  }
}

int AfXdpPort::wait(unsigned events, int timeout_ms, int wake_fd) {
  if (closed_) return -EBADF;
  next_probe_ = 0;  // every wait checks the interface once before it sleeps
  return wait_loop(events, timeout_ms, wake_fd);
}

int AfXdpPort::fd() const {
  if (closed_ || socks_.empty()) return -1;
  return socks_.size() == 1 ? socks_[0]->fd : epoll_fd_;
}

// XDP_STATISTICS of every RX socket. Drops = rx_dropped (no FILL buffer, or frame larger than
// a chunk) + rx_ring_full (RX ring full): both are frames the XDP program handed to us that
// we never saw. Received = descriptors the kernel produced on the RX rings + those drops.
PortCounters AfXdpPort::counters() {
  PortCounters c;
  if (closed_ || rx_socks_.empty()) return c;
  uint64_t produced = 0, drops = 0, full = 0;
  bool has_full = true;
  for (XskSocket* s : rx_socks_) {
    xdp_statistics st{};
    socklen_t len = sizeof st;
    if (::getsockopt(s->fd, SOL_XDP, XDP_STATISTICS, &st, &len) < 0) return c;
    // Kernels before 5.9 fold rx_ring_full into rx_dropped and do not report it apart.
    if (len < sizeof st) has_full = false;
    drops += st.rx_dropped + (len < sizeof st ? 0 : st.rx_ring_full);
    full += st.rx_ring_full;
    produced += extend_u32(s->rx_produced, s->rx.load_prod());
  }
  c.rx_drops = drops;
  c.rx_received = produced + drops;
  if (has_full) c.rx_ring_full = full;
  return c;
}

void AfXdpPort::close() {
  if (closed_) return;
  closed_ = true;
  prog_.detach();  // first: no more frames redirected to sockets about to close
  tx_.clear();
  rx_.clear();
  rx_socks_.clear();
  tx_sock_ = nullptr;
  socks_.clear();
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
  epoll_fd_ = -1;
  if (promisc_fd_ >= 0) ::close(promisc_fd_);  // the kernel drops the promiscuous membership
  promisc_fd_ = -1;
}

int AfXdpPort::gone(int e) {
  // Deleting an interface takes it down first and unbinds our sockets a moment later: if it
  // is down, look again shortly before saying which of the two happened.
  if (e == ENETDOWN) {
    ::usleep(20000);
    char name[IF_NAMESIZE];
    if (!::if_indextoname(unsigned(ifindex_), name)) e = ENXIO;
  }
  if (e == ENETDOWN)
    set_end(PortEnd::kGone, errc::kDown,
            "interface " + ifname_ + " went down; bring it up (ip link set dev " + ifname_ + " up) and start again");
  else
    set_end(PortEnd::kGone, errc::kGone, "interface " + ifname_ + " vanished (deleted, or its namespace went away)");
  return -e;
}

// Every kProbeEveryNs of waiting, look whether the interface is still there and up.
int AfXdpPort::idle_check(unsigned, uint64_t now, uint64_t* timeout_ns) {
  if (now >= next_probe_) {
    if (int rc = probe_alive(); rc < 0) return rc;
    next_probe_ = now + kProbeEveryNs;
  }
  *timeout_ns = std::min(*timeout_ns, next_probe_ - now);
  return 0;
}

// ppoll on the RX sockets and the wake fd; TX completions wake nobody (TxBackoff slices).
int AfXdpPort::block(unsigned events, uint64_t timeout_ns, int wake_fd) {
  pfd_.clear();
  if (events & kWaitRx)
    for (XskSocket* s : rx_socks_) pfd_.push_back({s->fd, POLLIN, 0});
  size_t wake_at = pfd_.size();
  if (wake_fd >= 0) pfd_.push_back({wake_fd, POLLIN, 0});
  timespec ts{time_t(timeout_ns / 1000000000ull), long(timeout_ns % 1000000000ull)};
  int pr = ::ppoll(pfd_.data(), pfd_.size(), timeout_ns == UINT64_MAX ? nullptr : &ts, nullptr);
  if (pr < 0) return errno == EINTR ? 0 : -errno;
  if (pr > 0 && wake_fd >= 0 && (pfd_[wake_at].revents & POLLIN)) return kWaitWoken;
  return 0;
}

// A zero-length recvfrom() reports an unbound socket (interface unregistered: ENXIO) or a
// down interface (ENETDOWN) and does nothing else in copy mode.
int AfXdpPort::probe_alive() {
  if (socks_.empty()) return 0;
  if (::recvfrom(socks_[0]->fd, nullptr, 0, MSG_DONTWAIT, nullptr, nullptr) < 0 && (errno == ENXIO || errno == ENETDOWN))
    return gone(errno);
  return 0;
}

}  // namespace nmc::af_xdp

namespace nmc {

std::unique_ptr<Port> open_af_xdp_port(const std::string& ifname, const OpenOptions& opts) {
  return std::make_unique<af_xdp::AfXdpPort>(ifname, opts);
}

}  // namespace nmc
