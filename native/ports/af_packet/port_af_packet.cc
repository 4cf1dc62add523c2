// AF_PACKET ports ("af_packet:IF"): Linux packet sockets with memory-mapped rings, presented as
// netmap rings.
//
// RX: one TPACKET_V3 block ring per RX queue. The kernel fills fixed-size blocks with
// variable-size packets and hands a block over whole (when full, or when the retire timer fires
// on a quiet link). rxsync walks handed-over blocks packet by packet into free slots of our own
// slot array; every slot is NS_INDIRECT and points at the frame bytes inside the block, so nothing
// is copied. A block goes back to the kernel once the user has released (moved head past) every
// slot that points into it. Walking may stop in the middle of a block when the slot array is full
// and resume at the next rxsync, so any slot count works; the default covers the whole block ring
// at 60-byte frames. Per-slot kernel timestamps and wire lengths live in slot_ts_ns and
// slot_wire_len. VLAN tags the kernel moved out of band (it always untags on receive) are written
// back into the frame, in the 4 bytes of headroom PACKET_RESERVE leaves before it.
//
// Snaplen: a one-instruction socket filter `ret #snaplen` makes the kernel copy exactly snaplen
// bytes into the block (tp_len keeps the wire length); slot.len is also capped at snaplen (after
// a re-inserted VLAN tag) and at 65535, the most a slot can say. Without a snaplen the kernel
// only truncates at the block size (512 KiB), far above any MTU.
//
// Outgoing packets are captured like incoming ones (tcpdump's default -Q inout), except on
// loopback devices where each packet would otherwise appear twice. Our own TX never shows up in
// our RX: with qdisc bypass it skips the taps, for every packet socket (tcpdump -i IF too).
//
// Multi-queue devices get one socket + ring per RX queue, joined in a PACKET_FANOUT_QM group.
// QM picks member (skb->queue_mapping % N). Drivers that record the RX queue store queue + 1
// there (skb_record_rx_queue); veth stores the sending queue as is. Member m is therefore
// labelled queue m on veth and queue m - 1 (mod N) elsewhere, so ring.index is the RX queue on
// both kinds of device.
//
// TX: one TPACKET_V2 ring of fixed frames on its own socket (bound to protocol 0, so it never
// receives), PACKET_QDISC_BYPASS and PACKET_LOSS. Slot i is frame i; buf_idx cannot change and
// NS_INDIRECT slots are copied into their frame. A frame the link cannot carry (over max_frame,
// over MTU + header without an 802.1Q tag, shorter than the link header, part of a NS_MOREFRAG
// chain) is refused: it is still handed over, in a form the kernel skips without a word, since
// the kernel's own cursor only moves over frames it processed. txsync marks
// [old head, head) SEND_REQUEST (status written last, with release order) and kicks with a
// non-blocking sendto(); the kernel stops at the first frame it cannot send now (no socket
// memory, or the device dropped it) and leaves it SEND_REQUEST, so later syncs kick again until
// every frame is taken. tail advances over frames the kernel gave back (neither SEND_REQUEST nor
// SENDING), which makes "pending" mean exactly "not given back yet".
//
// poll() on a TX ring reports POLLOUT whenever the kernel's next frame is free, which with
// netmap's one empty slot is always true, so it cannot say "a completion happened". TX waits
// therefore sleep in short, growing steps (20 us doubling to 1 ms) between checks; the socket
// stays in the poll set for errors, the wake fd for stop requests.
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <arpa/inet.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "loops/bpf.h"
#include "ports/af_packet/af_packet_filter.h"
#include "ports/af_packet/af_packet_iface.h"
#include "ring/clock.h"
#include "ring/port.h"

namespace nmc {
namespace {

// --- RX sizing ----------------------------------------------------------------------------------
constexpr uint32_t kRxBlockSize = 512 * 1024;  // one block: 512 KiB (fewer wake-ups per packet at high rates)
constexpr uint32_t kRxDefaultBlocks = 16;      // 8 MiB per RX queue
constexpr uint32_t kRxMinBlocks = 4;
constexpr uint32_t kRxMaxBlocks = 1024;        // 512 MiB per RX queue
constexpr uint32_t kRxRetireMs = 4;            // a quiet link still delivers within ~4 ms (+1 jiffy)
// tpacket_block_desc rounded to 8 bytes: where the first packet of a block may start.
constexpr uint32_t kV3BlockHeader = (sizeof(tpacket_block_desc) + 7) & ~7u;
// Headroom before each frame (PACKET_RESERVE) where a VLAN tag the kernel took out is put back.
constexpr uint32_t kVlanReserve = 4;
// Bytes one 60-byte frame (the Ethernet minimum) occupies in a V3 block: the header area up to
// tp_mac is TPACKET_ALIGN(TPACKET3_HDRLEN + 16) + reserve - 14 = 86, plus the frame, 8-byte aligned.
constexpr uint32_t kV3Footprint60 = (86 + 60 + 7) & ~7u;
constexpr uint32_t kRxPacketsPerBlock60 = (kRxBlockSize - kV3BlockHeader - 1) / kV3Footprint60;
constexpr uint32_t kMinSlots = 64;
constexpr uint32_t kMaxSlots = 1u << 22;

// --- TX sizing ----------------------------------------------------------------------------------
constexpr uint32_t kTxDataOffset = TPACKET2_HDRLEN - sizeof(sockaddr_ll);  // 32: frame data start
constexpr uint32_t kTxMinFrameSize = 2048;
constexpr uint32_t kTxMinBlockSize = 64 * 1024;
constexpr uint32_t kTxDefaultFrames = 4096;
constexpr size_t kTxDefaultMaxBytes = size_t(64) << 20;  // default ring stays under 64 MiB
constexpr size_t kTxMaxBytes = size_t(1) << 30;
constexpr uint64_t kTxBackoffMinNs = 20000;
constexpr uint64_t kTxBackoffMaxNs = 1000000;

uint32_t next_pow2(uint32_t v) {
  uint32_t p = 1;
  while (p < v) p <<= 1;
  return p;
}

uint32_t ring_dist(uint32_t from, uint32_t to, uint32_t n) { return to >= from ? to - from : to + n - from; }

std::string mib(size_t bytes) {
  if (bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
  return std::to_string(bytes >> 10) + " KiB";
}

constexpr const char* kPermissionMsg = "needs CAP_NET_RAW: run as root or setcap cap_net_raw,cap_net_admin+ep $(which node)";

struct RxQueue {
  int fd = -1;
  uint8_t* map = nullptr;
  size_t map_len = 0;
  uint32_t nblocks = 0;
  uint32_t queue = 0;  // RX queue this ring receives (ring.index)
  std::vector<Slot> slots;
  std::vector<uint64_t> ts;
  std::vector<uint32_t> wire;
  std::vector<uint8_t> dir;  // PacketDirection of each slot, from sll_pkttype
  std::vector<uint64_t> end_seq;  // per block: value of `walked` after its last packet
  uint32_t rel_blk = 0;           // oldest block we hold
  uint32_t nheld = 0;             // blocks taken from the kernel, not yet given back
  uint32_t cur_blk = 0;           // block being walked (when in_block)
  bool in_block = false;
  uint32_t pkts_left = 0;
  uint32_t next_off = 0;    // offset of the next packet inside cur_blk
  uint64_t walked = 0;      // slots filled since open
  uint64_t released = 0;    // slots the user gave back since open
  uint32_t seen_head = 0;   // ring head at the previous rxsync

  tpacket_block_desc* block(uint32_t b) const {
    return reinterpret_cast<tpacket_block_desc*>(map + size_t(b) * kRxBlockSize);
  }
};

struct TxState {
  int fd = -1;
  uint8_t* map = nullptr;
  size_t map_len = 0;
  uint32_t frame_size = 0;
  uint32_t block_size = 0;
  uint32_t nframes = 0;
  std::vector<Slot> slots;
  uint32_t seen_head = 0;  // ring head at the previous txsync
  uint32_t unsent = 0;     // first handed-over frame the kernel may not have taken yet
  uint64_t refused = 0;    // frames txsync would not hand to the kernel (bad length)

  tpacket2_hdr* hdr(uint32_t i) const { return reinterpret_cast<tpacket2_hdr*>(map + size_t(i) * frame_size); }
  uint32_t status(uint32_t i) const { return __atomic_load_n(&hdr(i)->tp_status, __ATOMIC_ACQUIRE); }
};

class AfPacketPort final : public Port {
 public:
  AfPacketPort(const std::string& ifname, const OpenOptions& opts) : opts_(opts) {
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

  ~AfPacketPort() override { close(); }

  int rxsync() override {
    if (closed_) return -EBADF;
    const uint64_t now = rx_.empty() ? 0 : realtime_ns();
    for (size_t k = 0; k < rx_.size(); ++k) {
      Ring& r = rx_[k];
      RxQueue& q = rxq_[k];
      if (r.head >= r.num_slots || ring_dist(q.seen_head, r.head, r.num_slots) > ring_dist(q.seen_head, r.tail, r.num_slots))
        return fail_index("rxsync: head moved outside [head, tail)");
      q.released += ring_dist(q.seen_head, r.head, r.num_slots);
      q.seen_head = r.head;
      release_blocks(q);
      int rc = walk(r, q);
      if (rc < 0) return rc;
      release_blocks(q);  // blocks that held no packet for us
      r.ts_ns = now;
    }
    return 0;
  }

  int txsync() override {
    if (closed_) return -EBADF;
    if (tx_.empty()) return 0;
    Ring& r = tx_[0];
    TxState& t = tx_state_;
    if (r.head >= r.num_slots || ring_dist(t.seen_head, r.head, r.num_slots) > ring_dist(t.seen_head, r.tail, r.num_slots))
      return fail_index("txsync: head moved outside [head, tail)");
    for (uint32_t i = t.seen_head; i != r.head; i = ring_next(r, i)) {
      int rc = hand_over(r, i);
      if (rc < 0) return rc;
    }
    t.seen_head = r.head;
    skip_taken(r);
    if (t.unsent != r.head && end() == PortEnd::kNone) {
      int rc = kick();
      if (rc < 0) return rc;
      skip_taken(r);
    }
    // Give back the prefix of pending frames the kernel has finished with.
    while (ring_next(r, r.tail) != r.head) {
      uint32_t j = ring_next(r, r.tail);
      if (t.status(j) & (TP_STATUS_SEND_REQUEST | TP_STATUS_SENDING)) break;
      r.tail = j;
    }
    return 0;
  }

  int wait(unsigned events, int timeout_ms, int wake_fd) override {
    if (closed_) return -EBADF;
    const bool want_rx = (events & kWaitRx) && !rx_.empty();
    const bool want_tx = (events & (kWaitTx | kWaitTxProgress)) && !tx_.empty();
    if (!want_rx && !want_tx) return -EINVAL;
    const uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : monotonic_ns() + uint64_t(timeout_ms) * 1000000ull;
    const uint32_t tx_tail0 = tx_.empty() ? 0 : tx_[0].tail;
    uint64_t backoff = kTxBackoffMinNs;
    bool polled = false;
    for (;;) {
      if (want_rx) {
        int rc = rxsync();
        if (rc < 0) return rc;
      }
      if (want_tx) {
        int rc = txsync();
        if (rc < 0) return rc;
      }
      if (ready(events, tx_tail0)) return kWaitReady;
      if (end() != PortEnd::kNone) return -end_errno_;
      uint64_t now = monotonic_ns();
      if (want_rx && rx_fault_ && now >= rx_fault_deadline_) return finish_rx_fault();
      if (polled && now >= deadline) return kWaitTimeout;

      uint64_t wait_ns = deadline == UINT64_MAX ? UINT64_MAX : (deadline > now ? deadline - now : 0);
      if (want_tx) wait_ns = std::min(wait_ns, backoff);
      if (want_rx && rx_fault_) wait_ns = std::min(wait_ns, rx_fault_deadline_ > now ? rx_fault_deadline_ - now : 0);

      pfds_.clear();
      if (want_rx)
        for (const RxQueue& q : rxq_) pfds_.push_back({q.fd, POLLIN, 0});
      if (want_tx) pfds_.push_back({tx_state_.fd, 0, 0});  // errors only: POLLOUT is always set
      size_t wake_at = pfds_.size();
      if (wake_fd >= 0) pfds_.push_back({wake_fd, POLLIN, 0});
      timespec ts{time_t(wait_ns / 1000000000ull), long(wait_ns % 1000000000ull)};
      int pr = ::ppoll(pfds_.data(), nfds_t(pfds_.size()), wait_ns == UINT64_MAX ? nullptr : &ts, nullptr);
      if (pr < 0) {
        if (errno == EINTR) continue;
        return -errno;
      }
      polled = true;
      if (wake_fd >= 0 && (pfds_[wake_at].revents & POLLIN)) return kWaitWoken;
      if (want_rx)
        for (size_t k = 0; k < rxq_.size(); ++k)
          if (pfds_[k].revents & (POLLERR | POLLHUP | POLLNVAL)) note_rx_error(rxq_[k].fd);
      if (want_tx && pr == 0) backoff = std::min(backoff * 2, kTxBackoffMaxNs);
    }
  }

  int fd() const override {
    if (!rxq_.empty()) return rxq_[0].fd;
    return tx_state_.fd;
  }

  // The capture filter goes on every RX socket, replacing the reject-all filter held since open
  // (see open_rx). When one queue is captured alone its queue filter must stay, and a socket may
  // refuse a large program (optmem_max): then the filter runs in the capture loop instead.
  // The kernel runs it before we re-insert 802.1Q tags, so (as with libpcap's programs from
  // pcap_open_dead) a tagged frame is judged as if untagged here, and `vlan` matches nothing.
  static_assert(sizeof(sock_filter) == sizeof(BpfInsn), "a BPF instruction is a sock_filter");
  bool attach_filter(const std::vector<BpfInsn>& prog) override {
    if (rxq_.empty()) return false;
    bool in_kernel = !prog.empty() && !queue_filter_;
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

  PortCounters counters() override {
    PortCounters c;
    if (!want_rx_) return c;  // no RX socket, nothing measured
    std::lock_guard<std::mutex> lk(mu_);
    read_stats_locked();
    c.rx_received = st_packets_;
    c.rx_drops = st_drops_;
    return c;
  }

  void close() override {
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

 private:
  // --- opening ------------------------------------------------------------------------------

  void check_sizes() {
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

  int new_socket() {
    int fd = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);  // protocol 0: receives nothing yet
    if (fd < 0) {
      int e = errno;
      if (e == EPERM || e == EACCES) throw PortError(errc::kPermission, kPermissionMsg, e);
      if (e == EAFNOSUPPORT) throw PortError(errc::kUnsupported, "this kernel has no AF_PACKET sockets", e);
      throw sys_error("socket", e);
    }
    return fd;
  }

  void bind_to(int fd, uint16_t protocol) {
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

  void set_int(int fd, int level, int opt, int v, const char* what) {
    if (::setsockopt(fd, level, opt, &v, sizeof v) < 0) throw sys_error(what, errno);
  }

  // Member m of the fanout group receives queue_mapping % N == m; see the header comment.
  uint32_t queue_of_member(uint32_t m, uint32_t nq) const { return (m + nq - qm_offset_) % nq; }
  uint32_t member_of_queue(uint32_t q, uint32_t nq) const { return (q + qm_offset_) % nq; }

  void open_rx() {
    const uint32_t nq = opts_.queue >= 0 ? 1 : iface_.rx_queues;
    fanout_ = nq > 1;
    vlan_reinsert_ = info_.link_type == 1;
    qm_offset_ = iface_.driver == "veth" ? 0 : 1;
    uint32_t nblocks = kRxDefaultBlocks;
    uint32_t nslots = nblocks * kRxPacketsPerBlock60 + 1;
    if (opts_.rx_slots) {
      nslots = opts_.rx_slots;
      nblocks = std::clamp((nslots + kRxPacketsPerBlock60 - 1) / kRxPacketsPerBlock60, kRxMinBlocks, kRxMaxBlocks);
    }
    rx_blocks_ = nblocks;
    // What every RX socket keeps of a packet, and (one queue opened alone) which packets.
    const uint32_t keep = opts_.snaplen ? opts_.snaplen : 0xffffffffu;
    const bool one_queue = opts_.queue >= 0 && iface_.rx_queues > 1;
    const bool need_filter = opts_.snaplen != 0 || one_queue;
    AfPacketFilter final_filter =
        one_queue ? af_packet_keep_filter(keep, iface_.rx_queues, member_of_queue(uint32_t(opts_.queue), iface_.rx_queues))
                  : af_packet_keep_filter(keep, 0, 0);
    // A capture filter to come: receive nothing until attach_filter() puts it (or, where the
    // queue filter must stay, final_filter) in place.
    keep_filter_ = need_filter ? final_filter : AfPacketFilter{};
    queue_filter_ = one_queue;
    const bool hold = opts_.filter_pending;
    len_cap_ = uint16_t(std::min<uint32_t>(opts_.snaplen ? opts_.snaplen : 65535u, 65535u));

    rxq_.resize(nq);
    uint32_t fanout_id = 0;
    for (uint32_t m = 0; m < nq; ++m) {
      RxQueue& q = rxq_[m];
      q.queue = fanout_ ? queue_of_member(m, nq) : (opts_.queue >= 0 ? uint32_t(opts_.queue) : 0);
      q.fd = new_socket();
      bind_to(q.fd, 0);
      set_int(q.fd, SOL_PACKET, PACKET_VERSION, TPACKET_V3, "PACKET_VERSION");
      if (vlan_reinsert_) set_int(q.fd, SOL_PACKET, PACKET_RESERVE, int(kVlanReserve), "PACKET_RESERVE");
      tpacket_req3 req{};
      req.tp_block_size = kRxBlockSize;
      req.tp_block_nr = nblocks;
      req.tp_frame_size = kRxBlockSize;  // V3 packets are variable-size; frames only must divide blocks
      req.tp_frame_nr = nblocks;
      req.tp_retire_blk_tov = kRxRetireMs;
      if (::setsockopt(q.fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) < 0) {
        int e = errno;
        if (e == ENOMEM)
          throw PortError(errc::kIo, "af_packet:" + iface_.name + ": cannot allocate a " + mib(size_t(nblocks) * kRxBlockSize) +
                                         " RX ring: ask for fewer rx slots", e);
        throw sys_error("PACKET_RX_RING", e);
      }
      q.map_len = size_t(nblocks) * kRxBlockSize;
      void* p = ::mmap(nullptr, q.map_len, PROT_READ | PROT_WRITE, MAP_SHARED, q.fd, 0);
      if (p == MAP_FAILED) throw sys_error("mmap of the RX ring", errno);
      q.map = static_cast<uint8_t*>(p);
      q.nblocks = nblocks;
      q.end_seq.assign(nblocks, 0);
      q.slots.assign(nslots, Slot{0, 0, NS_INDIRECT, 0});
      q.ts.assign(nslots, 0);
      q.wire.assign(nslots, 0);
      q.dir.assign(nslots, kDirUnknown);

      // Until every member sits in the group, packets could land in the wrong ring: drop them.
      if (fanout_ || hold) {
        AfPacketFilter none = af_packet_reject_all();
        if (int rc = af_packet_attach(q.fd, none); rc < 0) throw sys_error("SO_ATTACH_FILTER", -rc);
      } else if (need_filter) {
        if (int rc = af_packet_attach(q.fd, final_filter); rc < 0) throw sys_error("SO_ATTACH_FILTER", -rc);
      }
      if (m == 0 && opts_.promisc) {
        packet_mreq mr{};
        mr.mr_ifindex = iface_.ifindex;
        mr.mr_type = PACKET_MR_PROMISC;
        if (::setsockopt(q.fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) < 0) {
          int e = errno;
          if (e == EPERM) throw PortError(errc::kPermission, kPermissionMsg, e);
          throw sys_error("promiscuous mode (PACKET_ADD_MEMBERSHIP)", e);
        }
      }
      // Only now start receiving, into the finished ring (libpcap's order).
      bind_to(q.fd, ETH_P_ALL);
      if (fanout_) {
        int arg = int(fanout_id | (uint32_t(PACKET_FANOUT_QM | (m == 0 ? PACKET_FANOUT_FLAG_UNIQUEID : 0)) << 16));
        if (::setsockopt(q.fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof arg) < 0) throw sys_error("PACKET_FANOUT", errno);
        if (m == 0) {
          int got = 0;
          socklen_t len = sizeof got;
          if (::getsockopt(q.fd, SOL_PACKET, PACKET_FANOUT, &got, &len) < 0) throw sys_error("PACKET_FANOUT", errno);
          fanout_id = uint32_t(got) & 0xffff;
        }
      }
    }
    if (fanout_ && !hold) {
      for (RxQueue& q : rxq_) {
        if (need_filter) {
          if (int rc = af_packet_attach(q.fd, final_filter); rc < 0) throw sys_error("SO_ATTACH_FILTER", -rc);
        } else {
          af_packet_detach(q.fd);
        }
      }
    }
    std::sort(rxq_.begin(), rxq_.end(), [](const RxQueue& a, const RxQueue& b) { return a.queue < b.queue; });
    for (RxQueue& q : rxq_) {
      Ring r;
      r.num_slots = nslots;
      r.buf_size = len_cap_;  // the longest slot.len this ring can show
      r.index = q.queue;
      r.is_tx = false;
      r.ts_source = TsSource::kPacketNanos;
      r.slot = q.slots.data();
      r.slot_ts_ns = q.ts.data();
      r.slot_wire_len = q.wire.data();
      r.slot_direction = q.dir.data();
      rx_.push_back(r);
    }
  }

  void open_tx() {
    TxState& t = tx_state_;
    t.frame_size = std::max(kTxMinFrameSize, next_pow2(kTxDataOffset + max_frame_ + 4));
    t.block_size = std::max(kTxMinBlockSize, t.frame_size);
    const uint32_t per_block = t.block_size / t.frame_size;
    uint32_t want = opts_.tx_slots;
    if (want == 0)
      want = uint32_t(std::max<size_t>(per_block, std::min<size_t>(kTxDefaultFrames, kTxDefaultMaxBytes / t.frame_size)));
    const uint32_t nblocks = (want + per_block - 1) / per_block;  // the kernel wants whole blocks
    t.nframes = nblocks * per_block;
    if (size_t(t.nframes) * t.frame_size > kTxMaxBytes)
      throw PortError(errc::kUnsupported, "af_packet TX ring of " + std::to_string(t.nframes) + " x " +
                                              std::to_string(t.frame_size) + "-byte frames is over 1 GiB: ask for fewer tx slots");

    t.fd = new_socket();
    bind_to(t.fd, 0);  // protocol 0: a TX-only socket never runs packet_rcv
    set_int(t.fd, SOL_PACKET, PACKET_VERSION, TPACKET_V2, "PACKET_VERSION");
    set_int(t.fd, SOL_PACKET, PACKET_LOSS, 1, "PACKET_LOSS");  // a bad frame is skipped, not a stall
    int one = 1;
    bypass_ = ::setsockopt(t.fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one) == 0;
    // Frames in flight are charged to the socket's send buffer; let the whole ring be in flight.
    int sndbuf = int(std::min<size_t>(size_t(INT_MAX) / 2, size_t(t.nframes) * 2048));
    if (::setsockopt(t.fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf) < 0)
      ::setsockopt(t.fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);  // capped by wmem_max
    tpacket_req req{};
    req.tp_block_size = t.block_size;
    req.tp_block_nr = nblocks;
    req.tp_frame_size = t.frame_size;
    req.tp_frame_nr = t.nframes;
    if (::setsockopt(t.fd, SOL_PACKET, PACKET_TX_RING, &req, sizeof req) < 0) {
      int e = errno;
      if (e == ENOMEM)
        throw PortError(errc::kIo, "af_packet:" + iface_.name + ": cannot allocate a " +
                                       mib(size_t(t.nframes) * t.frame_size) + " TX ring: ask for fewer tx slots", e);
      throw sys_error("PACKET_TX_RING", e);
    }
    t.map_len = size_t(t.nframes) * t.frame_size;
    void* p = ::mmap(nullptr, t.map_len, PROT_READ | PROT_WRITE, MAP_SHARED, t.fd, 0);
    if (p == MAP_FAILED) throw sys_error("mmap of the TX ring", errno);
    t.map = static_cast<uint8_t*>(p);
    t.slots.resize(t.nframes);
    for (uint32_t i = 0; i < t.nframes; ++i) t.slots[i] = Slot{i, 0, 0, 0};

    Ring r;
    r.num_slots = t.nframes;
    r.buf_size = t.frame_size - kTxDataOffset;
    r.buf_stride = t.frame_size;
    r.buf_base = t.map + kTxDataOffset;
    r.num_bufs = t.nframes;
    r.head = r.cur = 0;
    r.tail = t.nframes - 1;
    r.index = 0;
    r.is_tx = true;
    r.slot = t.slots.data();
    tx_.push_back(r);
  }

  void describe() {
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

  PortError sys_error(const std::string& what, int e) const {
    return PortError(errc::kIo, "af_packet:" + iface_.name + ": " + what + ": " + std::strerror(e), e);
  }
  PortError down_error(int e) const {
    return PortError(errc::kDown, "interface " + iface_.name + " is down: ip link set " + iface_.name + " up", e);
  }

  // --- RX -----------------------------------------------------------------------------------

  // Give blocks back to the kernel, oldest first, once every slot walked from them is released.
  static void release_blocks(RxQueue& q) {
    while (q.nheld > 0) {
      const uint32_t b = q.rel_blk;
      if (q.in_block && b == q.cur_blk) break;
      if (q.end_seq[b] > q.released) break;
      __atomic_store_n(&q.block(b)->hdr.bh1.block_status, uint32_t(TP_STATUS_KERNEL), __ATOMIC_RELEASE);
      q.rel_blk = b + 1 == q.nblocks ? 0 : b + 1;
      --q.nheld;
    }
  }

  // Fill free slots from blocks the kernel has handed over, in order.
  int walk(Ring& r, RxQueue& q) {
    uint32_t room = r.num_slots - 1 - ring_space(r);
    while (room > 0) {
      if (!q.in_block) {
        if (q.nheld == q.nblocks) break;
        uint32_t b = q.rel_blk + q.nheld;
        if (b >= q.nblocks) b -= q.nblocks;
        tpacket_block_desc* bd = q.block(b);
        if (!(__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER)) break;
        ++q.nheld;
        q.cur_blk = b;
        q.pkts_left = bd->hdr.bh1.num_pkts;
        q.next_off = bd->hdr.bh1.offset_to_first_pkt;
        q.in_block = true;
      }
      if (q.pkts_left == 0) {
        q.end_seq[q.cur_blk] = q.walked;
        q.in_block = false;
        continue;
      }
      uint8_t* blk = reinterpret_cast<uint8_t*>(q.block(q.cur_blk));
      if (q.next_off < kV3BlockHeader || q.next_off > kRxBlockSize - sizeof(tpacket3_hdr)) return malformed();
      const tpacket3_hdr* h = reinterpret_cast<const tpacket3_hdr*>(blk + q.next_off);
      const uint32_t mac = h->tp_mac, snap = h->tp_snaplen;
      if (mac > kRxBlockSize - q.next_off || snap > kRxBlockSize - q.next_off - mac) return malformed();
      const uint8_t* pkt = blk + q.next_off;
      q.next_off += h->tp_next_offset;
      --q.pkts_left;
      const sockaddr_ll* sll = reinterpret_cast<const sockaddr_ll*>(pkt + TPACKET_ALIGN(sizeof(tpacket3_hdr)));
      const bool outgoing = sll->sll_pkttype == PACKET_OUTGOING;
      // On lo every packet passes twice, as outgoing and as incoming; keep it once (as tcpdump does).
      const bool skip = outgoing && iface_.arphrd == ARPHRD_LOOPBACK;
      if (!skip) {
        uint8_t* frame = const_cast<uint8_t*>(pkt) + mac;
        uint32_t len = snap, wire = h->tp_len;
        if (vlan_reinsert_ && (h->tp_status & TP_STATUS_VLAN_VALID) && snap >= 12 && mac >= kVlanReserve) {
          // The kernel moved the 802.1Q tag out of the frame (it always untags on receive, and
          // offloads do on send); put it back where it was on the wire, as libpcap does.
          const uint16_t tpid =
              (h->tp_status & TP_STATUS_VLAN_TPID_VALID) && h->hv1.tp_vlan_tpid ? h->hv1.tp_vlan_tpid : ETH_P_8021Q;
          const uint16_t tci = uint16_t(h->hv1.tp_vlan_tci);
          std::memmove(frame - kVlanReserve, frame, 12);
          frame -= kVlanReserve;
          frame[12] = uint8_t(tpid >> 8);
          frame[13] = uint8_t(tpid);
          frame[14] = uint8_t(tci >> 8);
          frame[15] = uint8_t(tci);
          len += kVlanReserve;
          wire += kVlanReserve;
        }
        const uint32_t i = r.tail;
        Slot& s = r.slot[i];
        s.buf_idx = 0;
        s.flags = NS_INDIRECT;
        s.len = uint16_t(std::min<uint32_t>(len, len_cap_));
        s.ptr = uint64_t(uintptr_t(frame));
        q.ts[i] = uint64_t(h->tp_sec) * 1000000000ull + h->tp_nsec;
        q.wire[i] = wire;
        q.dir[i] = outgoing ? kDirOutbound : kDirInbound;
        r.tail = ring_next(r, i);
        ++q.walked;
        --room;
      }
      if (q.pkts_left == 0) {
        q.end_seq[q.cur_blk] = q.walked;
        q.in_block = false;
      }
    }
    return 0;
  }

  int malformed() {
    set_end(PortEnd::kError, errc::kIo, "af_packet:" + iface_.name + ": the kernel handed over a malformed RX block");
    end_errno_ = EIO;
    return -EIO;
  }

  void note_rx_error(int fd) {
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err == 0) return;
    if (!rx_fault_) {
      // The kernel still retires the block it was filling within one retire timeout: hand those
      // packets out before saying the port ended.
      rx_fault_ = true;
      rx_fault_errno_ = err;
      rx_fault_deadline_ = monotonic_ns() + uint64_t(3 * kRxRetireMs + 4) * 1000000ull;
    }
  }

  int finish_rx_fault() { return iface_fault(rx_fault_errno_); }

  // The interface under us went away or went down: say which, end the port, return -errno.
  int iface_fault(int e) {
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

  void read_stats_locked() {
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

  // --- TX -----------------------------------------------------------------------------------

  // May the kernel send this frame? Refused frames never reach the wire (see hand_over).
  bool frame_ok(const uint8_t* d, uint32_t len) const {
    if (len < (ll_len_ ? ll_len_ : 1u) || len > max_frame_) return false;
    if (len > iface_.mtu + ll_len_) return d[12] == 0x81 && d[13] == 0x00;  // only 802.1Q tags get 4 more bytes
    return true;
  }

  int hand_over(Ring& r, uint32_t i) {
    TxState& t = tx_state_;
    Slot& s = r.slot[i];
    tpacket2_hdr* h = t.hdr(i);
    uint8_t* data = reinterpret_cast<uint8_t*>(h) + kTxDataOffset;
    uint32_t len = s.len;
    bool ok = true;
    if (s.flags & NS_INDIRECT) {
      ok = s.ptr != 0 && len <= max_frame_;
      if (ok) std::memcpy(data, reinterpret_cast<const void*>(uintptr_t(s.ptr)), len);
    } else if (s.buf_idx != i) {
      set_end(PortEnd::kError, errc::kUnsupported,
              "af_packet TX slots own fixed frames: slot " + std::to_string(i) + " must keep buf_idx " + std::to_string(i) +
                  " (copy packets instead of swapping buffers)");
      end_errno_ = EINVAL;
      return -EINVAL;
    }
    // One frame per slot: the frames hold max_frame, so a NS_MOREFRAG chain is a caller's error.
    const bool chained = (s.flags & NS_MOREFRAG) || in_chain_;
    in_chain_ = (s.flags & NS_MOREFRAG) != 0;
    ok = ok && !chained && frame_ok(data, len);
    if (ok) {
      h->tp_len = len;
    } else {
      // The kernel's ring cursor only moves over frames it processed, so a refused frame must
      // still be handed over, in a form the kernel rejects silently (PACKET_LOSS skips it):
      // shorter than the link header for Ethernet framing, one byte over the MTU otherwise.
      ++t.refused;
      h->tp_len = ll_len_ ? 0 : iface_.mtu + 1;
    }
    __atomic_store_n(&h->tp_status, uint32_t(TP_STATUS_SEND_REQUEST), __ATOMIC_RELEASE);
    return 0;
  }

  // Move `unsent` over frames the kernel has taken (any status but SEND_REQUEST).
  void skip_taken(const Ring& r) {
    TxState& t = tx_state_;
    while (t.unsent != r.head && t.status(t.unsent) != TP_STATUS_SEND_REQUEST) t.unsent = ring_next(r, t.unsent);
  }

  int kick() {
    if (::sendto(tx_state_.fd, nullptr, 0, MSG_DONTWAIT, nullptr, 0) >= 0) return 0;
    const int e = errno;
    switch (e) {
      case EAGAIN:   // socket send buffer full of frames in flight
      case ENOBUFS:  // the device dropped one; the kernel left it SEND_REQUEST for the next kick
      case EINTR:
        return 0;
      case ENXIO:
      case ENODEV:
      case ENETDOWN:
        return iface_fault(e);
      default:
        set_end(PortEnd::kError, errc::kIo, "af_packet:" + iface_.name + ": sending failed: " + std::strerror(e));
        end_errno_ = e;
        return -e;
    }
  }

  // --- common -------------------------------------------------------------------------------

  bool ready(unsigned events, uint32_t tx_tail0) const {
    if (events & kWaitRx)
      for (const Ring& r : rx_)
        if (!ring_empty(r)) return true;
    if (!tx_.empty()) {
      const Ring& t = tx_[0];
      if ((events & kWaitTx) && ring_space(t) > 0) return true;
      if ((events & kWaitTxProgress) && (t.tail != tx_tail0 || !tx_pending(t))) return true;
    }
    return false;
  }

  int fail_index(const char* what) {
    set_end(PortEnd::kError, errc::kIo, "af_packet:" + iface_.name + ": " + what);
    end_errno_ = EINVAL;
    return -EINVAL;
  }

  OpenOptions opts_;
  AfPacketIface iface_;
  bool want_rx_ = false;
  bool want_tx_ = false;
  bool fanout_ = false;
  bool vlan_reinsert_ = false;
  AfPacketFilter keep_filter_;  // snaplen / queue filter every RX socket needs (empty: none)
  bool queue_filter_ = false;   // keep_filter_ selects one queue: a capture filter cannot replace it
  bool in_chain_ = false;  // TX: inside a NS_MOREFRAG chain (all of it is refused)
  bool bypass_ = false;
  bool closed_ = false;
  uint32_t qm_offset_ = 1;
  uint32_t ll_len_ = 14;
  uint32_t max_frame_ = 0;
  uint32_t rx_blocks_ = 0;
  uint16_t len_cap_ = 65535;
  std::vector<RxQueue> rxq_;  // same order as rx_
  TxState tx_state_;
  std::vector<pollfd> pfds_;
  bool rx_fault_ = false;
  int rx_fault_errno_ = 0;
  uint64_t rx_fault_deadline_ = 0;
  int end_errno_ = EIO;
  std::mutex mu_;  // counters() may run on the JS thread while a session thread syncs
  uint64_t st_packets_ = 0;
  uint64_t st_drops_ = 0;
};

}  // namespace

std::unique_ptr<Port> open_af_packet_port(const std::string& ifname, const OpenOptions& opts) {
  return std::make_unique<AfPacketPort>(ifname, opts);
}

}  // namespace nmc
