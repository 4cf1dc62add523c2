// AF_XDP setup: queues, ring sizes, the UMEM chunk size, locked memory, the XDP program, one
// socket per queue with its UMEM and its four rings, promiscuity, the ring model's rings and the
// port's description. Everything here runs once, at open; the data paths are in af_xdp_rx.cc and
// af_xdp_tx.cc (see af_xdp_port.h).
#include "ports/af_xdp/af_xdp_port.h"

namespace nmc::af_xdp {

namespace {

uint32_t pow2_at_least(uint32_t v) {
  uint32_t p = 1;
  while (p < v) p <<= 1;
  return p;
}

std::string kib(uint64_t bytes) { return std::to_string((bytes + 1023) / 1024) + " KiB"; }

// Interface-name rules of the kernel's dev_valid_name().
bool valid_ifname(const std::string& n) {
  if (n.empty() || n.size() >= IFNAMSIZ || n == "." || n == "..") return false;
  for (char c : n)
    if (c == '/' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == '\0')
      return false;
  return true;
}

}  // namespace

void AfXdpPort::open() {
  if (!valid_ifname(ifname_))
    throw PortError(errc::kBadName, "bad interface name '" + ifname_ + "' in af_xdp:" + ifname_ +
                                        ": use af_xdp:IF with an interface name from `ip link` (1 to 15 characters, no '/', ':' or spaces)");
  const bool want_rx = opts_.direction != Direction::kTx;
  const bool want_tx = opts_.direction != Direction::kRx;

  xdp::LinkState ls = xdp::query_link(ifname_);
  ifindex_ = ls.ifindex;
  if (!ls.up)
    throw PortError(errc::kDown, "interface " + ifname_ + " is down; bring it up with `ip link set dev " + ifname_ + " up`");
  xdp::QueueCounts qc = xdp::queue_counts(ifname_, ls);

  // Queues.
  std::vector<uint32_t> rx_queues;
  uint32_t txq = 0;
  if (opts_.queue >= 0) {
    uint32_t q = uint32_t(opts_.queue);
    if (want_rx && q >= qc.rx)
      throw PortError(errc::kNotFound, "interface " + ifname_ + " has no RX queue " + std::to_string(q) + " (it has " +
                                           std::to_string(qc.rx) + ": 0 to " + std::to_string(qc.rx - 1) + ")");
    if (want_tx && q >= qc.tx)
      throw PortError(errc::kNotFound, "interface " + ifname_ + " has no TX queue " + std::to_string(q) + " (it has " +
                                           std::to_string(qc.tx) + ": 0 to " + std::to_string(qc.tx - 1) + ")");
    txq = q;
    if (want_rx) rx_queues.push_back(q);
  } else if (want_rx) {
    for (uint32_t q = 0; q < qc.rx; ++q) rx_queues.push_back(q);
  }

  // Ring sizes (AF_XDP rings are powers of two; ours match).
  auto slots = [&](uint32_t asked, uint32_t dflt, const char* what) {
    uint32_t n = asked ? asked : dflt;
    if (n < kMinSlots || n > kMaxSlots)
      throw PortError(errc::kUnsupported, std::string("af_xdp ") + what + " must be " + std::to_string(kMinSlots) +
                                              " to " + std::to_string(kMaxSlots) + " (got " + std::to_string(n) + ")");
    return pow2_at_least(n);
  };
  rx_slots_ = want_rx ? slots(opts_.rx_slots, kDefaultRxSlots, "rxSlots") : 0;
  tx_slots_ = want_tx ? slots(opts_.tx_slots, kDefaultTxSlots, "txSlots") : 0;

  // Chunk size: a received frame (MTU + Ethernet header + one VLAN tag) must fit in one chunk
  // after the kernel's 256-byte headroom; multi-buffer AF_XDP (frames over several chunks) is
  // not used.
  const uint32_t page = uint32_t(::sysconf(_SC_PAGESIZE));
  const uint32_t rx_frame = ls.mtu + 14 + 4;
  if (rx_frame + kXdpPacketHeadroom <= 2048)
    chunk_ = 2048;
  else if (rx_frame + kXdpPacketHeadroom <= page)
    chunk_ = page;
  else if (want_rx)
    throw PortError(errc::kUnsupported, mtu_message(ls, page));
  else
    chunk_ = page;
  info_.max_frame = std::min(ls.mtu + 14, chunk_);

  // UMEM pages are locked memory: make room under RLIMIT_MEMLOCK if we may.
  size_t umem_total = 0;
  for (uint32_t q : rx_queues) umem_total += size_t(chunk_) * (2 * rx_slots_ + (want_tx && q == txq ? tx_slots_ : 0));
  if (!want_rx) umem_total = size_t(chunk_) * tx_slots_;
  raise_memlock(umem_total);

  // The XDP program first, so that an error anywhere later still detaches it (close()).
  if (want_rx) {
    if (ls.xdp_attached != XDP_ATTACHED_NONE)
      throw PortError(errc::kBusy, "interface " + ifname_ + " already has an XDP program attached" +
                                       (ls.xdp_prog_id ? " (id " + std::to_string(ls.xdp_prog_id) + ")" : "") +
                                       "; detach it with `ip link set dev " + ifname_ + " xdp off` or use af_packet:" + ifname_);
    const char* env = std::getenv("NMCAP_XDP_ATTACH");
    xdp::AttachMethod method =
        env && std::strcmp(env, "netlink") == 0 ? xdp::AttachMethod::kNetlink : xdp::AttachMethod::kLink;
    prog_.load(qc.rx, ifname_);
    prog_.attach(ls.ifindex, ifname_, method);
  }

  // Sockets.
  for (uint32_t q : rx_queues) socks_.push_back(make_socket(ls, q, true, want_tx && q == txq));
  if (!want_rx) socks_.push_back(make_socket(ls, txq, false, true));
  for (auto& s : socks_) {
    if (s->rx_chunks) {
      rx_socks_.push_back(s.get());
      prog_.set_socket(s->queue, s->fd);
    }
    if (s->tx_chunks) tx_sock_ = s.get();
  }
  if (socks_.size() > 1) {
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) throw PortError(errc::kIo, info_.name + ": epoll_create1: " + std::strerror(errno), errno);
    for (XskSocket* s : rx_socks_) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.fd = s->fd;
      if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, s->fd, &ev) < 0)
        throw PortError(errc::kIo, info_.name + ": epoll_ctl: " + std::strerror(errno), errno);
    }
  }
  if (want_rx && opts_.promisc) set_promisc(ls.ifindex);
  build_rings();
  describe(ls, rx_queues, txq);
}

std::string AfXdpPort::mtu_message(const xdp::LinkState& ls, uint32_t page) const {
  std::string m = "MTU " + std::to_string(ls.mtu) + " of " + ifname_ + " is too large for ";
  if (ls.kind == "veth")
    m += "XDP on veth (max ~3.5 KB)";
  else
    m += "AF_XDP capture without multi-buffer (a frame must fit a " + std::to_string(page) + "-byte UMEM chunk, at most " +
         std::to_string(page - kXdpPacketHeadroom - 18) + "-byte MTU)";
  return m + "; lower it (ip link set dev " + ifname_ + " mtu 1500) or use af_packet:" + ifname_;
}

void AfXdpPort::raise_memlock(size_t need) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_MEMLOCK, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY) return;
  // Locked memory is counted per user, over all processes: leave generous room above `need`.
  if (rl.rlim_cur >= need + (size_t(16) << 20)) return;
  rlimit inf{RLIM_INFINITY, RLIM_INFINITY};
  if (::setrlimit(RLIMIT_MEMLOCK, &inf) == 0) return;
  if (rl.rlim_max > rl.rlim_cur) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_MEMLOCK, &rl);
  }
}

std::unique_ptr<XskSocket> AfXdpPort::make_socket(const xdp::LinkState& ls, uint32_t q, bool rx, bool tx) {
  auto s = std::make_unique<XskSocket>();
  s->queue = q;
  s->chunk = chunk_;
  s->tx_chunks = tx ? tx_slots_ : 0;
  s->rx_chunks = rx ? 2 * rx_slots_ : 0;
  const std::string where = info_.name + " queue " + std::to_string(q);

  s->fd = ::socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (s->fd < 0) {
    int e = errno;
    if (e == EPERM || e == EACCES)
      throw PortError(errc::kPermission, info_.name + ": AF_XDP sockets need CAP_NET_RAW (run as root or setcap cap_net_raw+ep)", e);
    if (e == EAFNOSUPPORT)
      throw PortError(errc::kUnsupported, info_.name + ": this kernel has no AF_XDP (CONFIG_XDP_SOCKETS); use af_packet:" + ifname_, e);
    throw PortError(errc::kIo, where + ": socket(AF_XDP): " + std::strerror(e), e);
  }

  s->umem_len = size_t(s->chunk) * (s->tx_chunks + s->rx_chunks);
  void* mem = ::mmap(nullptr, s->umem_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (mem == MAP_FAILED) throw PortError(errc::kIo, where + ": cannot allocate " + kib(s->umem_len) + " of UMEM", errno);
  s->umem = static_cast<uint8_t*>(mem);

  xdp_umem_reg reg{};
  reg.addr = uint64_t(uintptr_t(s->umem));
  reg.len = s->umem_len;
  reg.chunk_size = s->chunk;
  reg.headroom = 0;
  if (::setsockopt(s->fd, SOL_XDP, XDP_UMEM_REG, &reg, sizeof reg) < 0) {
    int e = errno;
    if (e == ENOBUFS || e == ENOMEM || e == EPERM) {
      rlimit rl{};
      ::getrlimit(RLIMIT_MEMLOCK, &rl);
      std::string lim = rl.rlim_cur == RLIM_INFINITY ? "unlimited" : kib(rl.rlim_cur);
      throw PortError(errc::kPermission,
                      info_.name + ": the kernel refused to lock " + kib(s->umem_len) + " of UMEM (RLIMIT_MEMLOCK " + lim +
                          "); raise it (ulimit -l, prlimit), grant CAP_IPC_LOCK, or use fewer rxSlots/txSlots",
                      e);
    }
    throw PortError(errc::kIo, where + ": XDP_UMEM_REG: " + std::strerror(e), e);
  }

  // Rings. A socket needs both FILL and COMPLETION even when it uses only one direction.
  uint32_t fill_n = rx ? s->rx_chunks : 2;
  uint32_t comp_n = tx ? s->tx_chunks : 2;
  auto ring_opt = [&](int opt, uint32_t n, const char* name) {
    if (::setsockopt(s->fd, SOL_XDP, opt, &n, sizeof n) < 0)
      throw PortError(errc::kIo, where + ": cannot create the " + name + " ring of " + std::to_string(n) + ": " + std::strerror(errno), errno);
  };
  ring_opt(XDP_UMEM_FILL_RING, fill_n, "FILL");
  ring_opt(XDP_UMEM_COMPLETION_RING, comp_n, "COMPLETION");
  if (rx) ring_opt(XDP_RX_RING, rx_slots_, "RX");
  if (tx) ring_opt(XDP_TX_RING, tx_slots_, "TX");

  xdp_mmap_offsets off{};
  socklen_t olen = sizeof off;
  if (::getsockopt(s->fd, SOL_XDP, XDP_MMAP_OFFSETS, &off, &olen) < 0)
    throw PortError(errc::kIo, where + ": XDP_MMAP_OFFSETS: " + std::strerror(errno), errno);
  if (olen < sizeof off)
    throw PortError(errc::kUnsupported, info_.name + ": this kernel's AF_XDP is too old (no ring flags, before 5.4); use af_packet:" + ifname_);
  auto map_ring = [&](XskRing& ring, const xdp_ring_offset& o, uint32_t n, size_t elem, off_t pgoff, const char* name) {
    int rc = ring.mmap_from(s->fd, o, n, elem, pgoff);
    if (rc < 0) throw PortError(errc::kIo, where + ": cannot map the " + name + " ring: " + std::strerror(-rc), -rc);
  };
  map_ring(s->fill, off.fr, fill_n, sizeof(uint64_t), off_t(XDP_UMEM_PGOFF_FILL_RING), "FILL");
  map_ring(s->comp, off.cr, comp_n, sizeof(uint64_t), off_t(XDP_UMEM_PGOFF_COMPLETION_RING), "COMPLETION");
  if (rx) map_ring(s->rx, off.rx, rx_slots_, sizeof(xdp_desc), off_t(XDP_PGOFF_RX_RING), "RX");
  if (tx) map_ring(s->tx, off.tx, tx_slots_, sizeof(xdp_desc), off_t(XDP_PGOFF_TX_RING), "TX");

  // Copy-mode TX budget: the largest the kernel allows (the TX ring size) unless asked.
  if (tx) {
    uint32_t want = opts_.tx_budget ? opts_.tx_budget : tx_slots_;
    if (::setsockopt(s->fd, SOL_XDP, kXdpMaxTxSkbBudget, &want, sizeof want) == 0) {
      tx_budget_ = want;
      budget_note_.clear();
    } else if (errno == EACCES && opts_.tx_budget) {
      throw PortError(errc::kUnsupported, info_.name + ": tx budget " + std::to_string(want) + " is out of range: use " +
                                              std::to_string(kKernelTxBudget) + " to " + std::to_string(tx_slots_) +
                                              " (the TX ring size)");
    } else {
      tx_budget_ = 0;
      budget_note_ = errno == ENOPROTOOPT ? "XDP_MAX_TX_SKB_BUDGET unsupported" : std::strerror(errno);
    }
    uint32_t per_kick = tx_budget_ ? tx_budget_ : kKernelTxBudget / 2;
    max_kicks_ = std::min<uint32_t>(tx_slots_ / per_kick + 4, 1024);
  }

  sockaddr_xdp sa{};
  sa.sxdp_family = AF_XDP;
  sa.sxdp_flags = XDP_USE_NEED_WAKEUP | (opts_.zero_copy ? XDP_ZEROCOPY : 0);
  sa.sxdp_ifindex = uint32_t(ls.ifindex);
  sa.sxdp_queue_id = q;
  if (::bind(s->fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) {
    int e = errno;
    if (e == EBUSY)
      throw PortError(errc::kBusy, "queue " + std::to_string(q) + " of " + ifname_ +
                                       " is already used by another AF_XDP socket (another nmcap or XDP application); "
                                       "close it, pick another queue, or use af_packet:" + ifname_, e);
    if (opts_.zero_copy && (e == EOPNOTSUPP || e == EINVAL))
      throw PortError(errc::kUnsupported, "the driver of " + ifname_ + (ls.kind.empty() ? "" : " (" + ls.kind + ")") +
                                              " has no AF_XDP zero-copy support; drop the zero-copy option to use copy mode", e);
    if (e == ENETDOWN) throw PortError(errc::kDown, "interface " + ifname_ + " is down; bring it up with `ip link set dev " + ifname_ + " up`", e);
    if (e == ENODEV) throw PortError(errc::kGone, "interface " + ifname_ + " vanished while opening it", e);
    throw PortError(errc::kUnsupported, where + ": cannot bind an AF_XDP socket: " + std::strerror(e) + "; use af_packet:" + ifname_, e);
  }
  xdp_options xo{};
  socklen_t xlen = sizeof xo;
  if (::getsockopt(s->fd, SOL_XDP, XDP_OPTIONS, &xo, &xlen) == 0) s->zero_copy = xo.flags & XDP_OPTIONS_ZEROCOPY;

  // Stock FILL with every RX chunk.
  if (rx) {
    for (uint32_t i = 0; i < s->rx_chunks; ++i) *s->fill.addr_at(i) = uint64_t(s->tx_chunks + i) * s->chunk;
    s->fill_prod = s->rx_chunks;
    s->fill.store_prod(s->fill_prod);
  }
  return s;
}

// A packet socket holding a PACKET_MR_PROMISC membership: NICs filter by MAC before XDP runs,
// and the kernel drops the membership (and promiscuity) when this fd closes, even on a crash.
// Protocol 0: the socket itself receives nothing.
void AfXdpPort::set_promisc(int ifindex) {
  int fd = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    promisc_note_ = std::string("promiscuous mode not set: ") + std::strerror(errno);
    return;
  }
  packet_mreq mr{};
  mr.mr_ifindex = ifindex;
  mr.mr_type = PACKET_MR_PROMISC;
  if (::setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) < 0) {
    promisc_note_ = std::string("promiscuous mode not set: ") + std::strerror(errno);
    ::close(fd);
    return;
  }
  promisc_fd_ = fd;
}

void AfXdpPort::build_rings() {
  for (XskSocket* s : rx_socks_) {
    s->rx_slots.assign(rx_slots_, Slot{0, 0, NS_INDIRECT, 0});
    s->rx_slot_chunk.assign(rx_slots_, 0);
    Ring r;
    r.num_slots = rx_slots_;
    r.buf_size = chunk_;
    r.index = s->queue;
    r.is_tx = false;
    r.ts_source = TsSource::kSyncNanos;
    r.slot = s->rx_slots.data();
    r.buf_base = s->umem;
    r.num_bufs = s->tx_chunks + s->rx_chunks;
    rx_.push_back(r);
  }
  if (tx_sock_) {
    XskSocket& s = *tx_sock_;
    s.tx_slots.resize(tx_slots_);
    for (uint32_t i = 0; i < tx_slots_; ++i) s.tx_slots[i] = Slot{i, 0, 0, 0};
    s.tx_sent_chunk.assign(tx_slots_, kSkippedChunk);
    s.tx_done.assign(s.tx_chunks, 0);
    Ring r;
    r.num_slots = tx_slots_;
    r.buf_size = chunk_;
    r.index = s.queue;
    r.is_tx = true;
    r.slot = s.tx_slots.data();
    r.buf_base = s.umem;
    r.num_bufs = s.tx_chunks;
    r.head = r.cur = 0;
    r.tail = tx_slots_ - 1;
    tx_.push_back(r);
  }
}

void AfXdpPort::describe(const xdp::LinkState& ls, const std::vector<uint32_t>& rx_queues, uint32_t txq) {
  bool zc = !socks_.empty() && socks_[0]->zero_copy;
  std::vector<std::string> parts;
  parts.push_back(zc ? "zero-copy" : "copy");
  if (prog_.attached()) {
    parts.push_back(prog_.mode() == xdp::AttachMode::kDrv ? "drv" : "skb (drv refused: " + prog_.drv_refusal() + ")");
    parts.push_back(prog_.method() == xdp::AttachMethod::kLink ? "bpf link" : "netlink");
  }
  if (tx_sock_ && !zc)
    parts.push_back(tx_budget_ ? "tx budget " + std::to_string(tx_budget_) : "tx budget kernel default (" + budget_note_ + ")");
  if (!promisc_note_.empty()) parts.push_back(promisc_note_);
  std::string mode;
  for (const std::string& p : parts) mode += (mode.empty() ? "" : ", ") + p;
  info_.mode = mode;
  info_.xdp.present = true;
  info_.xdp.zero_copy = zc;
  if (prog_.attached()) {
    info_.xdp.attach = prog_.mode() == xdp::AttachMode::kDrv ? "drv" : "skb";
    info_.xdp.method = prog_.method() == xdp::AttachMethod::kLink ? "bpf link" : "netlink";
    if (prog_.mode() != xdp::AttachMode::kDrv) info_.xdp.drv_refusal = prog_.drv_refusal();
  }
  info_.xdp.tx_budget = tx_sock_ && !zc ? int64_t(tx_budget_) : -1;

  std::string d = "AF_XDP on " + ifname_ + (ls.kind.empty() ? "" : " (" + ls.kind + ")");
  if (!rx_queues.empty()) {
    d += ", RX queue" + std::string(rx_queues.size() > 1 ? "s " : " ") + std::to_string(rx_queues.front());
    if (rx_queues.size() > 1) d += "-" + std::to_string(rx_queues.back());
  }
  if (tx_sock_) d += ", TX queue " + std::to_string(txq);
  d += ", " + std::string(zc ? "zero-copy" : "copy mode") + ", " + std::to_string(chunk_) + "-byte UMEM chunks";
  if (prog_.attached())
    d += ", XDP program id " + std::to_string(prog_.prog_id()) + " in " +
         (prog_.mode() == xdp::AttachMode::kDrv ? "driver" : "generic") + " mode";
  info_.description = d;
  info_.knows_rx_drops = !rx_socks_.empty();
  info_.knows_rx_received = !rx_socks_.empty();
}

}  // namespace nmc::af_xdp
