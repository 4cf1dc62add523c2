// AF_PACKET ports ("af_packet:IF"): opening, the interface, waiting and counters (see
// af_packet_port.h for how the rings are presented).
#include "ports/af_packet/af_packet_port.h"

namespace nmc::af_packet {

AfPacketPort::AfPacketPort(const std::string& ifname, const OpenOptions& opts) : opts_(opts) {
  iface_ = af_packet_probe(ifname);  // kBadName / kNotFound
  const std::string& n = iface_.name;
  info_.name = "af_packet:" + n;
  info_.backend = "af_packet";
  info_.ifname = n;
  info_.link_type = af_packet_link_type(iface_.arphrd);
  if (info_.link_type == 0)
    throw PortError(errc::kUnsupported, "interface " + n + " has device type " + std::to_string(iface_.arphrd) +
                                            " (ARPHRD), which the af_packet backend cannot map to a pcap link type");
  if (!(iface_.flags & IFF_UP)) throw PortError(errc::kDown, "interface " + n + " is down: ip link set " + n + " up");
  ll_len_ = af_packet_ll_header_len(iface_.arphrd);
  // The kernel allows 4 bytes over MTU + header only for 802.1Q-tagged Ethernet frames.
  // Capped at 65535: a slot's len cannot say more (lo's MTU is 65536).
  max_frame_ = std::min<uint32_t>(iface_.mtu + ll_len_ + (iface_.arphrd == ARPHRD_ETHER ? 4 : 0), 65535);
  info_.max_frame = max_frame_;
  want_rx_ = opts.direction != Direction::kTx;
  want_tx_ = opts.direction != Direction::kRx;
  info_.ts_source = want_rx_ ? TsSource::kPacketNanos : TsSource::kNone;
  info_.knows_rx_drops = want_rx_;
  info_.knows_rx_received = want_rx_;
  check_sizes();
  try {
    if (want_rx_) open_rx();
    if (want_tx_) open_tx();
  } catch (...) {
    close();
    throw;
  }
  describe();
}

int AfPacketPort::wait(unsigned events, int timeout_ms, int wake_fd) {
  if (closed_) return -EBADF;
  return wait_loop(events, timeout_ms, wake_fd);
}

// The capture filter goes on every RX socket, replacing the reject-all filter held since open
// (see open_rx). When one queue is captured alone its queue filter must stay, and a socket may
// refuse a large program (optmem_max): then the filter runs in the capture loop instead.
// The kernel runs it before we re-insert 802.1Q tags: there a tagged frame looks untagged, and a
// program from pcap_open_dead tests the tag in the frame bytes (ldh [12]; jeq #0x8100), so `vlan`
// would match nothing. A program that compares with a VLAN TPID therefore runs on the capture
// thread, on the frame with its tag back in place, where it sees what tcpdump writes; the others
// stay in the kernel (an `ip` program then also keeps tagged IP frames, as tcpdump live does).
static_assert(sizeof(sock_filter) == sizeof(BpfInsn), "a BPF instruction is a sock_filter");

static bool tests_vlan_tpid(const std::vector<BpfInsn>& prog) {
  for (const BpfInsn& i : prog) {
    if (i.code != (BPF_JMP | BPF_JEQ | BPF_K)) continue;
    if (i.k == ETH_P_8021Q || i.k == ETH_P_8021AD || i.k == 0x9100 /* QinQ, pre-802.1ad */) return true;
  }
  return false;
}

bool AfPacketPort::attach_filter(const std::vector<BpfInsn>& prog) {
  if (rxq_.empty()) return false;
  bool in_kernel = !prog.empty() && !queue_filter_ && !(vlan_reinsert_ && tests_vlan_tpid(prog));
  if (in_kernel) {
    AfPacketFilter f(prog.size());
    std::memcpy(f.data(), prog.data(), prog.size() * sizeof(BpfInsn));
    for (RxQueue& q : rxq_) {
      if (af_packet_attach(q.fd, f) < 0) {
        in_kernel = false;
        break;
      }
    }
  }
  if (!in_kernel) {
    for (RxQueue& q : rxq_) {
      if (keep_filter_.empty()) af_packet_detach(q.fd);
      else if (int rc = af_packet_attach(q.fd, keep_filter_); rc < 0) throw sys_error("SO_ATTACH_FILTER", -rc);
    }
  }
  return in_kernel;
}

int AfPacketPort::fd() const {
  if (!rxq_.empty()) return rxq_[0].fd;
  return tx_state_.fd;
}

PortCounters AfPacketPort::counters() {
  PortCounters c;
  if (!want_rx_) return c;  // no RX socket, nothing measured
  std::lock_guard<std::mutex> lk(mu_);
  read_stats_locked();
  c.rx_received = st_packets_;
  c.rx_drops = st_drops_;
  return c;
}

void AfPacketPort::close() {
  std::lock_guard<std::mutex> lk(mu_);
  if (closed_) return;
  closed_ = true;
  read_stats_locked();  // keep the final totals for counters()
  for (RxQueue& q : rxq_) {
    if (q.map) ::munmap(q.map, q.map_len);
    if (q.fd >= 0) ::close(q.fd);  // drops the promiscuous membership and the fanout group
    q.map = nullptr;
    q.fd = -1;
  }
  if (tx_state_.map) ::munmap(tx_state_.map, tx_state_.map_len);
  if (tx_state_.fd >= 0) ::close(tx_state_.fd);
  tx_state_.map = nullptr;
  tx_state_.fd = -1;
  rx_.clear();
  tx_.clear();
  rxq_.clear();
}

void AfPacketPort::check_sizes() {
  auto check = [](uint32_t v, const char* what) {
    if (v != 0 && (v < kMinSlots || v > kMaxSlots))
      throw PortError(errc::kUnsupported, std::string("af_packet ") + what + " must be from " + std::to_string(kMinSlots) +
                                              " to " + std::to_string(kMaxSlots) + " (0 = default)");
  };
  check(opts_.rx_slots, "rx slots");
  check(opts_.tx_slots, "tx slots");
  if (opts_.queue >= 0 && uint32_t(opts_.queue) >= iface_.rx_queues)
    throw PortError(errc::kNotFound, "interface " + iface_.name + " has " + std::to_string(iface_.rx_queues) +
                                         " RX queue(s), numbered from 0; there is no queue " + std::to_string(opts_.queue));
}

int AfPacketPort::new_socket() {
  int fd = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);  // protocol 0: receives nothing yet
  if (fd < 0) {
    int e = errno;
    if (e == EPERM || e == EACCES) throw PortError(errc::kPermission, kPermissionMsg, e);
    if (e == EAFNOSUPPORT) throw PortError(errc::kUnsupported, "this kernel has no AF_PACKET sockets", e);
    throw sys_error("socket", e);
  }
  return fd;
}

void AfPacketPort::bind_to(int fd, uint16_t protocol) {
  sockaddr_ll a{};
  a.sll_family = AF_PACKET;
  a.sll_protocol = htons(protocol);
  a.sll_ifindex = iface_.ifindex;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) {
    int e = errno;
    if (e == ENODEV || e == ENXIO) throw PortError(errc::kNotFound, "no interface '" + iface_.name + "' (see `ip link`)", e);
    if (e == ENETDOWN) throw down_error(e);
    throw sys_error("bind", e);
  }
  if (protocol != 0) {
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err == ENETDOWN) throw down_error(err);
    if (err != 0) throw sys_error("bind", err);
  }
}

void AfPacketPort::set_int(int fd, int level, int opt, int v, const char* what) {
  if (::setsockopt(fd, level, opt, &v, sizeof v) < 0) throw sys_error(what, errno);
}

void AfPacketPort::describe() {
  std::string d = "AF_PACKET on " + iface_.name;
  d += " (" + (iface_.driver.empty() ? std::string("no driver info") : iface_.driver) + ", mtu " + std::to_string(iface_.mtu) + ")";
  std::string mode;
  if (want_rx_) {
    d += ": " + std::to_string(rx_.size()) + " RX ring" + (rx_.size() == 1 ? "" : "s") + " of " + std::to_string(rx_blocks_) +
         " x " + std::to_string(kRxBlockSize / 1024) + " KiB blocks, " + std::to_string(rx_.empty() ? 0 : rx_[0].num_slots) + " slots";
    if (opts_.queue >= 0) d += " (queue " + std::to_string(opts_.queue) + " only)";
    mode = "TPACKET_V3 rx";
    if (fanout_) mode += " (fanout by queue)";
  }
  if (want_tx_) {
    d += std::string(want_rx_ ? ";" : ":") + " TX ring of " + std::to_string(tx_state_.nframes) + " x " +
         std::to_string(tx_state_.frame_size) + "-byte frames";
    mode += std::string(mode.empty() ? "" : ", ") + "TPACKET_V2 tx" + (bypass_ ? ", qdisc bypass" : "");
  }
  info_.description = d;
  info_.mode = mode;
}

PortError AfPacketPort::sys_error(const std::string& what, int e) const {
  return PortError(errc::kIo, "af_packet:" + iface_.name + ": " + what + ": " + std::strerror(e), e);
}

PortError AfPacketPort::down_error(int e) const {
  return PortError(errc::kDown, "interface " + iface_.name + " is down: ip link set " + iface_.name + " up", e);
}

// The interface under us went away or went down: say which, end the port, return -errno.
int AfPacketPort::iface_fault(int e) {
  const std::string& n = iface_.name;
  std::string now_name = af_packet_ifname_of(iface_.ifindex);
  unsigned flags = 0;
  if (now_name.empty()) {
    set_end(PortEnd::kGone, errc::kGone, "interface " + n + " vanished (deleted, or moved to another network namespace)");
    end_errno_ = e == ENETDOWN ? ENODEV : e;
  } else if (e == ENETDOWN || (af_packet_ifflags(now_name, &flags) && !(flags & IFF_UP))) {
    set_end(PortEnd::kError, errc::kDown, "interface " + n + " went down: ip link set " + n + " up, then start again");
    end_errno_ = ENETDOWN;
  } else if (e == ENXIO || e == ENODEV) {
    set_end(PortEnd::kGone, errc::kGone, "interface " + n + " vanished (deleted, or moved to another network namespace)");
    end_errno_ = e;
  } else {
    set_end(PortEnd::kError, errc::kIo, "af_packet:" + n + ": " + std::strerror(e));
    end_errno_ = e;
  }
  return -end_errno_;
}

void AfPacketPort::read_stats_locked() {
  for (const RxQueue& q : rxq_) {
    if (q.fd < 0) continue;
    tpacket_stats_v3 st{};
    socklen_t len = sizeof st;
    // The kernel resets these on every read, and tp_packets already includes tp_drops.
    if (::getsockopt(q.fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0) {
      st_packets_ += st.tp_packets;
      st_drops_ += st.tp_drops;
    }
  }
}

int AfPacketPort::idle_check(unsigned events, uint64_t now, uint64_t* timeout_ns) {
  if (end() != PortEnd::kNone) return -end_errno_;
  if ((events & kWaitRx) && rx_fault_) {
    if (now >= rx_fault_deadline_) return finish_rx_fault();
    *timeout_ns = std::min(*timeout_ns, rx_fault_deadline_ - now);
  }
  return 0;
}

// ppoll on the RX sockets (POLLIN), the TX socket (errors only: its POLLOUT is always set, see
// the header comment) and the wake fd.
int AfPacketPort::block(unsigned events, uint64_t timeout_ns, int wake_fd) {
  const bool want_rx = (events & kWaitRx) && !rx_.empty();
  const bool want_tx = (events & (kWaitTx | kWaitTxProgress)) && !tx_.empty();
  pfds_.clear();
  if (want_rx)
    for (const RxQueue& q : rxq_) pfds_.push_back({q.fd, POLLIN, 0});
  if (want_tx) pfds_.push_back({tx_state_.fd, 0, 0});
  size_t wake_at = pfds_.size();
  if (wake_fd >= 0) pfds_.push_back({wake_fd, POLLIN, 0});
  timespec ts{time_t(timeout_ns / 1000000000ull), long(timeout_ns % 1000000000ull)};
  int pr = ::ppoll(pfds_.data(), nfds_t(pfds_.size()), timeout_ns == UINT64_MAX ? nullptr : &ts, nullptr);
  if (pr < 0) return errno == EINTR ? 0 : -errno;
  if (wake_fd >= 0 && (pfds_[wake_at].revents & POLLIN)) return kWaitWoken;
  if (want_rx)
    for (size_t k = 0; k < rxq_.size(); ++k)
      if (pfds_[k].revents & (POLLERR | POLLHUP | POLLNVAL)) note_rx_error(rxq_[k].fd);
  return 0;
}

// A failed sync prologue already ended the port (ERR_PORT_PROTOCOL); later waits return this.
int AfPacketPort::fail_errno(int rc) {
  end_errno_ = -rc;
  return rc;
}

}  // namespace nmc::af_packet

namespace nmc {

std::unique_ptr<Port> open_af_packet_port(const std::string& ifname, const OpenOptions& opts) {
  return std::make_unique<af_packet::AfPacketPort>(ifname, opts);
}

}  // namespace nmc
