// The netmap backend: "netmap:IF...", "valeSW:PORT...", netmap pipes "netmap:NAME{N" / "}N".
//
// Open: parse the name (netmap_name.cc), open /dev/netmap, NIOCCTRL with NETMAP_REQ_REGISTER,
// mmap nr_memsize bytes, find netmap_if at nr_offset and attach one nmc::Ring adapter per bound
// ring (netmap_rings.cc). The adapters use the kernel's slots and buffers in place.
//
// Syncs: copy every adapter's head/cur into its kernel ring, NIOCTXSYNC / NIOCRXSYNC, copy tail
// (and on RX the ring's microsecond timestamp) back. wait() is poll() on the netmap fd, which runs
// the same syncs inside the kernel, so it is wrapped by the same copies.
//
// What netmap cannot tell: it keeps no drop or receive counters (txsync/rxsync have no
// statistics), so counters() reports them unknown; and it stamps once per rxsync, in
// microseconds, so TsSource::kSyncMicros.
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "ports/af_packet/af_packet_iface.h"
#include "ring/clock.h"
#include "ports/netmap/netmap_abi.h"
#include "ports/netmap/netmap_name.h"
#include "ports/netmap/netmap_rings.h"
#include "ring/port.h"

namespace nmc {
namespace {

constexpr uint64_t kMaxMemSize = uint64_t(1) << 40;
// While draining (kWaitTxProgress) poll() sleeps at most this long at a time: NIC drivers only ask
// for a TX interrupt now and then, so a completion may be visible only to the next txsync, which
// each poll() round performs.
constexpr int kProgressSliceMs = 1;

std::string errno_text(int e) { return std::strerror(e); }

PortError open_error(int e) {
  switch (e) {
    case ENOENT:
      return PortError(errc::kNoNetmap,
                       "netmap is not available: /dev/netmap does not exist (the netmap kernel module is not loaded); "
                       "use af_xdp:IF or af_packet:IF instead",
                       e);
    case ENXIO:
    case ENODEV:
      return PortError(errc::kNoNetmap,
                       "netmap is not available: /dev/netmap exists but no netmap module answers (" + errno_text(e) +
                           "); load netmap.ko or use af_xdp:IF or af_packet:IF instead",
                       e);
    case EACCES:
    case EPERM:
      return PortError(errc::kPermission,
                       "netmap: permission denied opening /dev/netmap; run as root or give your user read and write "
                       "access to /dev/netmap",
                       e);
    default:
      return PortError(errc::kIo, "netmap: cannot open /dev/netmap: " + errno_text(e), e);
  }
}

PortError register_error(const NetmapName& n, int e) {
  const std::string who = "netmap: " + n.text + ": ";
  switch (e) {
    case ENXIO:
    case ENOENT:
    case ENODEV:
      return PortError(errc::kNotFound,
                       who + "no such port '" + n.kernel_name + "' (" + errno_text(e) +
                           "); check the interface name with 'ip link', or the VALE switch and port names",
                       e);
    case EBUSY:
      return PortError(errc::kBusy,
                       who + "busy: another process holds these rings exclusively (/x), or the port is in use in a "
                             "way that excludes this request",
                       e);
    case EACCES:
    case EPERM:
      return PortError(errc::kPermission, who + "permission denied; run as root", e);
    case EINVAL:
      return PortError(errc::kUnsupported,
                       who + "netmap refused the registration (invalid argument): the ring number, flags or @conf "
                             "values do not fit this port, or the netmap module does not speak API " +
                           std::to_string(nm::kApi),
                       e);
    case EOPNOTSUPP:
      return PortError(errc::kUnsupported, who + "not supported by this port or netmap module", e);
    case ENOMEM:
      return PortError(errc::kIo, who + "netmap is out of memory for rings and buffers; ask for fewer slots", e);
    default:
      return PortError(errc::kIo, who + "registration failed: " + errno_text(e), e);
  }
}

// "NIC 0-3 + host 0" for the rings of one direction.
std::string ring_list(const std::vector<Ring>& rs, uint32_t nic) {
  if (rs.empty()) return "none";
  std::string out;
  auto add = [&](const char* what, uint32_t lo, uint32_t hi) {
    if (!out.empty()) out += " + ";
    out += std::string(what) + " " + std::to_string(lo) + (hi != lo ? "-" + std::to_string(hi) : "");
  };
  bool have_nic = false, have_host = false;
  uint32_t nlo = 0, nhi = 0, hlo = 0, hhi = 0;
  for (const Ring& r : rs) {
    if (r.index < nic) {
      if (!have_nic) nlo = r.index;
      have_nic = true;
      nhi = r.index;
    } else {
      if (!have_host) hlo = r.index - nic;
      have_host = true;
      hhi = r.index - nic;
    }
  }
  if (have_nic) add("NIC", nlo, nhi);
  if (have_host) add("host", hlo, hhi);
  return out;
}

class NetmapPort final : public Port {
 public:
  NetmapPort(const std::string& spec, const OpenOptions& opts) : name_(parse_netmap_name(spec)) {
    NetmapRegisterRequest rq = make_register_request(name_, opts);
    try {
      if (name_.kind == NetmapKind::kNic) check_link();
      open_and_register(rq);
      map_and_attach(rq.reg);
      describe(rq.reg);
      if (opts.promisc && name_.kind == NetmapKind::kNic && !rx_.empty()) enable_promisc();
    } catch (...) {
      close();
      throw;
    }
  }

  ~NetmapPort() override { close(); }

  int txsync() override { return sync(tx_, ktx_, nm::kNiocTxsync, "txsync"); }
  int rxsync() override { return sync(rx_, krx_, nm::kNiocRxsync, "rxsync"); }

  int wait(unsigned events, int timeout_ms, int wake_fd) override {
    if (fd_ < 0) return -EBADF;
    const bool want_rx = (events & kWaitRx) && !rx_.empty();
    const bool want_tx = (events & kWaitTx) && !tx_.empty();
    const bool want_progress = (events & kWaitTxProgress) && !tx_.empty();
    if (!want_rx && !want_tx && !want_progress) return -EINVAL;
    // Ready with what the last sync left: no syscall in busy periods.
    snapshot_tx_tails();
    if (rings_ready(events)) return kWaitReady;
    const uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : monotonic_ns() + uint64_t(timeout_ms) * 1000000ull;
    for (;;) {
      std::string why;
      // poll() syncs inside the kernel: RX rings with POLLIN, TX rings always (NR_NO_TX_POLL is
      // not set), so every ring gets our head/cur first.
      for (size_t i = 0; i < rx_.size(); ++i)
        if (!netmap_push(rx_[i], krx_[i], &why)) return fail(PortEnd::kError, errc::kIo, why, -EINVAL);
      for (size_t i = 0; i < tx_.size(); ++i) {
        if (!netmap_push(tx_[i], ktx_[i], &why)) return fail(PortEnd::kError, errc::kIo, why, -EINVAL);
        // cur is netmap's wake-up point: poll(POLLOUT) returns once tail moves past it, so cur =
        // tail means "wake me at the next completion" (valid: cur may lie anywhere in [head, tail]).
        // Drained rings never complete anything, so they never wake us either.
        if (want_progress) ktx_[i]->cur = tx_[i].tail;
      }

      int slice = -1;
      if (deadline != UINT64_MAX) {
        uint64_t now = monotonic_ns();
        slice = now >= deadline ? 0 : int((deadline - now + 999999) / 1000000);
      }
      if (want_progress && (slice < 0 || slice > kProgressSliceMs)) slice = kProgressSliceMs;
      pollfd pfd[2];
      nfds_t n = 0;
      pfd[n++] = {fd_, short((want_rx ? POLLIN : 0) | (want_tx || want_progress ? POLLOUT : 0)), 0};
      if (wake_fd >= 0) pfd[n++] = {wake_fd, POLLIN, 0};
      std::atomic_signal_fence(std::memory_order_seq_cst);
      int pr = ::poll(pfd, n, slice);
      int poll_errno = errno;
      std::atomic_signal_fence(std::memory_order_seq_cst);

      for (size_t i = 0; i < rx_.size(); ++i)
        if (!netmap_pull(rx_[i], krx_[i], &why)) return fail(PortEnd::kError, errc::kIo, why, -EINVAL);
      for (size_t i = 0; i < tx_.size(); ++i)
        if (!netmap_pull(tx_[i], ktx_[i], &why)) return fail(PortEnd::kError, errc::kIo, why, -EINVAL);

      if (pr < 0) {
        if (poll_errno == EINTR) continue;
        return fail(PortEnd::kError, errc::kIo, "poll: " + errno_text(poll_errno), -poll_errno);
      }
      if (wake_fd >= 0 && (pfd[1].revents & POLLIN)) return kWaitWoken;
      if (pfd[0].revents & (POLLHUP | POLLNVAL))
        return fail(PortEnd::kGone, errc::kGone, "the port went away", -ENODEV);
      if (pfd[0].revents & POLLERR)
        return fail(PortEnd::kError, errc::kIo,
                    "poll reported an error (the kernel reset a ring, or the interface left netmap mode)", -EIO);

      if (rings_ready(events)) return kWaitReady;
      if (monotonic_ns() >= deadline) return kWaitTimeout;
      if (want_progress && (pfd[0].revents & POLLOUT)) {
        // Woken without a completion (a driver that does not honour cur): back off instead of
        // spinning, still listening to the wake fd.
        if (wake_fd >= 0) {
          pollfd w{wake_fd, POLLIN, 0};
          if (::poll(&w, 1, kProgressSliceMs) > 0 && (w.revents & POLLIN)) return kWaitWoken;
        } else {
          ::usleep(kProgressSliceMs * 1000);
        }
      }
    }
  }

  int fd() const override { return fd_; }

  // netmap keeps no statistics in txsync/rxsync: received and dropped are unknown, never 0.
  PortCounters counters() override { return {}; }

  void close() override {
    if (promisc_fd_ >= 0) ::close(promisc_fd_);  // the kernel drops our promiscuous reference
    promisc_fd_ = -1;
    tx_.clear();
    rx_.clear();
    ktx_.clear();
    krx_.clear();
    if (mem_) ::munmap(mem_, mem_size_);
    mem_ = nullptr;
    mem_size_ = 0;
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  void open_and_register(NetmapRegisterRequest& rq) {
    if (!nm::kLayoutSupported)
      throw PortError(errc::kUnsupported, "netmap: this build's memory layout is not LP64; use af_packet:IF instead");
    fd_ = ::open("/dev/netmap", O_RDWR | O_CLOEXEC);
    if (fd_ < 0) throw open_error(errno);
    rq.hdr.nr_body = reinterpret_cast<uintptr_t>(&rq.reg);
    if (::ioctl(fd_, nm::kNiocCtrl, &rq.hdr) < 0) throw register_error(name_, errno);
  }

  // How many buffers the region's pool has, to bound buffer indices tighter than the mapping does
  // (0 = unknown: the mapping alone bounds them, which already keeps every access inside it).
  // Asked only for NICs: NETMAP_REQ_POOLS_INFO_GET looks the port up by name and may create it,
  // which for a pipe end or a VALE port would be a second, unwanted registration.
  uint32_t pool_buffers(uint16_t mem_id) {
    if (name_.kind != NetmapKind::kNic) return 0;
    nm::nmreq_pools_info pi;
    std::memset(&pi, 0, sizeof pi);
    pi.nr_mem_id = mem_id;
    nm::nmreq_header h;
    std::memset(&h, 0, sizeof h);
    h.nr_version = nm::kApi;
    h.nr_reqtype = nm::kReqPoolsInfoGet;
    std::memcpy(h.nr_name, name_.kernel_name.data(), name_.kernel_name.size());
    h.nr_body = reinterpret_cast<uintptr_t>(&pi);
    if (::ioctl(fd_, nm::kNiocCtrl, &h) < 0) return 0;
    return pi.nr_buf_pool_objtotal;
  }

  void map_and_attach(const nm::nmreq_register& reg) {
    if (reg.nr_memsize == 0 || reg.nr_memsize > kMaxMemSize)
      throw PortError(errc::kIo, "netmap: " + name_.text + ": the kernel reported a region of " +
                                     std::to_string(reg.nr_memsize) + " bytes");
    void* p = ::mmap(nullptr, size_t(reg.nr_memsize), PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    if (p == MAP_FAILED) throw PortError(errc::kIo, "netmap: " + name_.text + ": mmap: " + errno_text(errno), errno);
    mem_ = static_cast<uint8_t*>(p);
    mem_size_ = size_t(reg.nr_memsize);
    NetmapRingSet set = attach_netmap_rings(mem_, mem_size_, reg.nr_offset, pool_buffers(reg.nr_mem_id));
    if (set.tx.empty() && set.rx.empty())
      throw PortError(errc::kUnsupported, "netmap: " + name_.text + ": the kernel bound no rings");
    tx_ = std::move(set.tx);
    rx_ = std::move(set.rx);
    ktx_ = std::move(set.ktx);
    krx_ = std::move(set.krx);
    nic_tx_ = set.nic_tx;
    nic_rx_ = set.nic_rx;
  }

  void describe(const nm::nmreq_register& reg) {
    info_.name = name_.text;
    info_.backend = "netmap";
    info_.ifname = name_.kernel_name;
    info_.description = describe_netmap_name(name_);
    info_.link_type = 1;
    info_.max_frame = 0;
    info_.ts_source = TsSource::kSyncMicros;
    info_.knows_rx_drops = false;
    info_.knows_rx_received = false;
    const Ring& any = tx_.empty() ? rx_.front() : tx_.front();
    std::string slots = std::to_string(tx_.empty() ? 0 : tx_.front().num_slots) + "/" +
                        std::to_string(rx_.empty() ? 0 : rx_.front().num_slots);
    info_.mode = "tx " + ring_list(tx_, nic_tx_) + "; rx " + ring_list(rx_, nic_rx_) + "; " + slots +
                 " tx/rx slots; " + std::to_string(any.buf_size) + "-byte buffers; memory region " +
                 std::to_string(reg.nr_mem_id);
  }

  // Promiscuous mode through a packet-socket membership: counted by the kernel and dropped when
  // the socket closes, so it is undone even if we crash. The socket has protocol 0: it receives
  // nothing.
  void enable_promisc() {
    unsigned idx = if_nametoindex(name_.port.c_str());
    if (idx == 0)
      throw PortError(errc::kNotFound, "netmap: " + name_.text + ": interface " + name_.port + " not found", errno);
    promisc_fd_ = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    packet_mreq mr{};
    mr.mr_ifindex = int(idx);
    mr.mr_type = PACKET_MR_PROMISC;
    if (promisc_fd_ < 0 ||
        ::setsockopt(promisc_fd_, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) < 0) {
      int e = errno;
      throw PortError(e == EPERM || e == EACCES ? errc::kPermission : errc::kIo,
                      "netmap: " + name_.text + ": cannot put " + name_.port + " in promiscuous mode (" +
                          errno_text(e) + "); run with CAP_NET_RAW or open without promiscuous mode",
                      e);
    }
  }

  int sync(std::vector<Ring>& rings, const std::vector<nm::netmap_ring*>& k, unsigned long req, const char* what) {
    if (fd_ < 0) return -EBADF;
    if (rings.empty()) return 0;
    std::string why;
    int rc = netmap_sync(rings, k, [&] { return ::ioctl(fd_, req, nullptr) < 0 ? -errno : 0; }, &why);
    if (rc == 0) return 0;
    if (!why.empty()) return fail(PortEnd::kError, errc::kIo, why, rc);
    if (rc == -ENXIO || rc == -ENODEV)
      return fail(PortEnd::kGone, errc::kGone, std::string(what) + ": the port went away", rc);
    return fail(PortEnd::kError, errc::kIo, std::string(what) + ": " + errno_text(-rc), rc);
  }

  int fail(PortEnd e, const char* code, const std::string& why, int rc) {
    // A vanished interface shows only as an I/O error or a ring reset: name the cause.
    if (name_.kind == NetmapKind::kNic && if_nametoindex(name_.port.c_str()) == 0 && errno == ENODEV) {
      set_end(PortEnd::kGone, errc::kGone,
              "netmap: " + name_.text + ": the port went away: interface " + name_.port + " no longer exists (" + why + ")");
      return rc;
    }
    set_end(e, code, "netmap: " + name_.text + ": " + why);
    return rc;
  }

  // A link that is down (ours, or a veth peer's: no carrier) leaves TX rings full and RX rings
  // empty without a word, and netmap can lock up on the rings of an interface that goes down:
  // refuse it at open, as the af_packet backend does.
  void check_link() const {
    unsigned flags = 0;
    if (!af_packet_ifflags(name_.port, &flags)) return;  // cannot ask: the registration will say
    const std::string who = "netmap: " + name_.text + ": interface " + name_.port;
    if (!(flags & IFF_UP)) throw PortError(errc::kDown, who + " is down: ip link set " + name_.port + " up");
    if (!(flags & IFF_RUNNING))
      throw PortError(errc::kDown, who + " is down (no carrier: the cable, or the peer of a veth, is down)");
  }

  NetmapName name_;
  int fd_ = -1;
  uint8_t* mem_ = nullptr;
  size_t mem_size_ = 0;
  std::vector<nm::netmap_ring*> ktx_, krx_;
  uint32_t nic_tx_ = 0, nic_rx_ = 0;
  int promisc_fd_ = -1;
};

}  // namespace

std::unique_ptr<Port> open_netmap_port(const std::string& spec, const OpenOptions& opts) {
  return std::make_unique<NetmapPort>(spec, opts);
}

}  // namespace nmc
