// af_xdp:IF — AF_XDP sockets presented as netmap rings.
//
// Sockets and UMEM. One AF_XDP socket per RX queue (all queues, or opts.queue), each with its own
// UMEM: simpler than XDP_SHARED_UMEM (which would need a FILL/COMPLETION pair per queue anyway)
// and nothing is lost, since RX slots are handed out in place and never swapped into TX. The TX
// ring lives on the socket of queue 0 (or opts.queue); a TX-only port has one TX-only socket.
// A socket's UMEM is [TX chunks: one per TX slot][RX chunks: two per RX slot], chunk = 2048
// bytes when MTU + 18 fits in 2048 - 256 (XDP_PACKET_HEADROOM), else 4096 (a page).
//
// TX ring. Slot i starts out on chunk i (buf_base = UMEM base, buf_size = chunk size), so buffers
// are written in place. txsync puts a descriptor {buf_idx * chunk, len} on the AF_XDP TX ring
// for every slot of [old head, head) and kicks the kernel with sendto(MSG_DONTWAIT): copy mode
// transmits only inside that call, at most `tx budget` packets per call, so txsync kicks again
// while the kernel keeps taking descriptors (bounded number of kicks per call). The COMPLETION
// ring returns the chunk of every packet that left; tail moves over a slot once its chunk came
// back, in slot order, so a slot the user gets back is always really free.
//
// RX ring. The AF_XDP RX descriptors become NS_INDIRECT slots (slot.ptr = UMEM + desc.addr,
// len = desc.len): no copy. When the user moves head past slots, the next rxsync returns their
// chunks to the FILL ring, which always has room for every RX chunk, so FILL never runs dry while
// the user keeps up. Descriptors carry no time: ts_ns is CLOCK_REALTIME at the rxsync that
// brought the packets (TsSource::kSyncNanos).
//
// XDP program: xdp_prog.h (XSKMAP + 6 raw instructions, attached through a BPF link so the kernel
// detaches it if we die). NMCAP_XDP_ATTACH=netlink forces the netlink way (diagnostics and tests).
//
// Waiting. RX waits poll(POLLIN) on every RX socket. TX completions have no wake-up event in copy
// mode (POLLOUT only says the TX ring has room, which it nearly always has), so while packets are
// in flight wait() sleeps in TxBackoff steps (20 µs doubling to 1 ms) between txsyncs: no busy spin, bounded
// latency. Every 200 ms of sleeping, a zero-length recvfrom() checks the interface: ENXIO means it
// vanished, ENETDOWN that it went down.
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <linux/if_xdp.h>
#include <net/if.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "ports/af_xdp/af_xdp_ring.h"
#include "ring/clock.h"
#include "ring/port.h"
#include "ports/af_xdp/xdp_prog.h"

#ifndef SOL_XDP
#define SOL_XDP 283
#endif
#ifndef AF_XDP
#define AF_XDP 44
#endif

namespace nmc {
namespace {

constexpr uint32_t kDefaultRxSlots = 2048;
constexpr uint32_t kDefaultTxSlots = 2048;
constexpr uint32_t kMinSlots = 64;
constexpr uint32_t kMaxSlots = 16384;
constexpr uint32_t kXdpPacketHeadroom = 256;  // XDP_PACKET_HEADROOM: the kernel's, before RX data
constexpr int kXdpMaxTxSkbBudget = 9;         // sockopt, Linux 6.17+ (not in older uapi headers)
constexpr uint32_t kKernelTxBudget = 32;      // the kernel's per-call copy-mode default (TX_BATCH_SIZE)
constexpr uint32_t kSkippedChunk = UINT32_MAX;
constexpr uint64_t kProbeEveryNs = 200'000'000;

uint32_t pow2_at_least(uint32_t v) {
  uint32_t p = 1;
  while (p < v) p <<= 1;
  return p;
}

std::string kib(uint64_t bytes) { return std::to_string((bytes + 1023) / 1024) + " KiB"; }

// Extends a free-running u32 kernel index to 64 bits. Safe against concurrent callers; correct
// as long as it is called at least once per 2^32 increments (every rxsync and counters() call it).
uint64_t extend_u32(std::atomic<uint64_t>& last, uint32_t now) {
  uint64_t old = last.load(std::memory_order_relaxed);
  for (;;) {
    uint64_t next = old + uint32_t(now - uint32_t(old));
    if (next == old || last.compare_exchange_weak(old, next, std::memory_order_relaxed)) return next;
  }
}

// Interface-name rules of the kernel's dev_valid_name().
bool valid_ifname(const std::string& n) {
  if (n.empty() || n.size() >= IFNAMSIZ || n == "." || n == "..") return false;
  for (char c : n)
    if (c == '/' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == '\0')
      return false;
  return true;
}

struct XskSocket {
  int fd = -1;
  uint32_t queue = 0;
  uint8_t* umem = nullptr;
  size_t umem_len = 0;
  uint32_t chunk = 0;
  uint32_t tx_chunks = 0;  // chunks [0, tx_chunks): TX buffers
  uint32_t rx_chunks = 0;  // chunks [tx_chunks, tx_chunks + rx_chunks): RX buffers
  bool zero_copy = false;
  XskRing fill, comp, rx, tx;
  // Our indices on the rings we produce to / consume from (the kernel sees them once published).
  uint32_t fill_prod = 0, comp_cons = 0, rx_cons = 0, tx_prod = 0;

  // RX side of the netmap ring
  std::vector<Slot> rx_slots;
  std::vector<uint64_t> rx_slot_chunk;  // UMEM address of the chunk each slot holds
  uint32_t rx_released = 0;             // head at the last rxsync: earlier slots went back to FILL
  std::atomic<uint64_t> rx_produced{0}; // RX descriptors the kernel produced, 64-bit

  // TX side
  std::vector<Slot> tx_slots;
  std::vector<uint32_t> tx_sent_chunk;  // per slot: the chunk its packet was sent from
  std::vector<uint16_t> tx_done;        // per chunk: completions not yet matched to a slot
  uint32_t tx_sent = 0;                 // head at the last txsync: earlier slots are handed over

  ~XskSocket() {
    fill.unmap();
    comp.unmap();
    rx.unmap();
    tx.unmap();
    if (fd >= 0) ::close(fd);
    if (umem) ::munmap(umem, umem_len);
  }
};

class AfXdpPort final : public Port {
 public:
  AfXdpPort(const std::string& ifname, const OpenOptions& opts) : ifname_(ifname), opts_(opts) {
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

  ~AfXdpPort() override { close(); }

  int txsync() override {
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

  int rxsync() override {
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

  int wait(unsigned events, int timeout_ms, int wake_fd) override {
    if (closed_) return -EBADF;
    next_probe_ = 0;  // every wait checks the interface once before it sleeps
    return wait_loop(events, timeout_ms, wake_fd);
  }

  int fd() const override {
    if (closed_ || socks_.empty()) return -1;
    return socks_.size() == 1 ? socks_[0]->fd : epoll_fd_;
  }

  // XDP_STATISTICS of every RX socket. Drops = rx_dropped (no FILL buffer, or frame larger than
  // a chunk) + rx_ring_full (RX ring full): both are frames the XDP program handed to us that
  // we never saw. Received = descriptors the kernel produced on the RX rings + those drops.
  PortCounters counters() override {
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

  void close() override {
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

 private:
  int gone(int e) {
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

  // Copy mode transmits inside sendto(), at most `budget` packets per call; kick again while the
  // kernel keeps taking descriptors. EAGAIN/EBUSY/ENOBUFS mean "try again later" (budget spent,
  // socket send buffer full, or the driver busy/dropping).
  int kick_tx(XskSocket& s) {
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
  void reap_completions(XskSocket& s, Ring& r) {
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

  // --- waiting (the template is Port::wait_loop) --------------------------------------------

  // Every kProbeEveryNs of waiting, look whether the interface is still there and up.
  int idle_check(unsigned, uint64_t now, uint64_t* timeout_ns) override {
    if (now >= next_probe_) {
      if (int rc = probe_alive(); rc < 0) return rc;
      next_probe_ = now + kProbeEveryNs;
    }
    *timeout_ns = std::min(*timeout_ns, next_probe_ - now);
    return 0;
  }

  // ppoll on the RX sockets and the wake fd; TX completions wake nobody (TxBackoff slices).
  int block(unsigned events, uint64_t timeout_ns, int wake_fd) override {
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
  int probe_alive() {
    if (socks_.empty()) return 0;
    if (::recvfrom(socks_[0]->fd, nullptr, 0, MSG_DONTWAIT, nullptr, nullptr) < 0 && (errno == ENXIO || errno == ENETDOWN))
      return gone(errno);
    return 0;
  }

  // --- open ---------------------------------------------------------------------------------

  void open() {
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

  std::string mtu_message(const xdp::LinkState& ls, uint32_t page) const {
    std::string m = "MTU " + std::to_string(ls.mtu) + " of " + ifname_ + " is too large for ";
    if (ls.kind == "veth")
      m += "XDP on veth (max ~3.5 KB)";
    else
      m += "AF_XDP capture without multi-buffer (a frame must fit a " + std::to_string(page) + "-byte UMEM chunk, at most " +
           std::to_string(page - kXdpPacketHeadroom - 18) + "-byte MTU)";
    return m + "; lower it (ip link set dev " + ifname_ + " mtu 1500) or use af_packet:" + ifname_;
  }

  void raise_memlock(size_t need) {
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

  std::unique_ptr<XskSocket> make_socket(const xdp::LinkState& ls, uint32_t q, bool rx, bool tx) {
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
  void set_promisc(int ifindex) {
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

  void build_rings() {
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

  void describe(const xdp::LinkState& ls, const std::vector<uint32_t>& rx_queues, uint32_t txq) {
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

  std::string ifname_;
  OpenOptions opts_;
  bool closed_ = false;
  uint32_t rx_slots_ = 0, tx_slots_ = 0, chunk_ = 2048;
  uint32_t tx_budget_ = 0;  // 0: the kernel's default (sockopt unsupported)
  uint32_t max_kicks_ = 8;
  std::string budget_note_, promisc_note_;
  xdp::XskProgram prog_;
  std::vector<std::unique_ptr<XskSocket>> socks_;
  std::vector<XskSocket*> rx_socks_;  // parallel to rx_
  std::vector<pollfd> pfd_;           // block()'s poll set, kept to spare an allocation per wait
  uint64_t next_probe_ = 0;           // when idle_check next looks at the interface
  XskSocket* tx_sock_ = nullptr;
  int epoll_fd_ = -1;
  int promisc_fd_ = -1;
  int ifindex_ = 0;
};

}  // namespace

std::unique_ptr<Port> open_af_xdp_port(const std::string& ifname, const OpenOptions& opts) {
  return std::make_unique<AfXdpPort>(ifname, opts);
}

}  // namespace nmc
