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
// at 60-byte frames. One rxsync also walks at most kRxWalkBytes of block data: the reader then
// copies those packets while the lines the walk pulled in (headers and frames share them) are
// still in this core's cache, instead of walking 8 MiB of blocks first and fetching it all again.
// Per-slot kernel timestamps and wire lengths live in slot_ts_ns and slot_wire_len. VLAN tags
// the kernel moved out of band (it always untags on receive) are written back into the frame, in
// the 4 bytes of headroom PACKET_RESERVE leaves before it.
//
// Snaplen: a one-instruction socket filter `ret #snaplen` makes the kernel copy exactly snaplen
// bytes into the block (tp_len keeps the wire length); slot.len is also capped at snaplen (after
// a re-inserted VLAN tag) and at 65535, the most a slot can say. Without a snaplen the kernel
// only truncates at the block size (1 MiB), far above any MTU.
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
// therefore sleep in TxBackoff steps (ring/port.h) between checks; the socket stays in the poll
// set for errors, the wake fd for stop requests.
//
// Files: af_packet_port.h (this: the port's state), port_af_packet.cc (opening, the interface,
// waiting, counters), af_packet_rx.cc (the RX block walker), af_packet_tx.cc (the TX frame ring).
#pragma once

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

namespace nmc::af_packet {

// --- RX sizing ----------------------------------------------------------------------------------
// One block: 1 MiB. The kernel wakes the reader once per block (when full, or at the retire
// timeout), and a wake-up (ppoll, the socket lock it contends for with the kernel's receive path,
// a sleep and a wake) costs tens of microseconds on a VM: with 512 KiB blocks and a 10 ms timeout,
// one per ~2,400 packets at the veth maximum was a fifth of the capture thread's time. Larger
// blocks wake less (2 MiB: one per ~8,900 packets), but a block goes back to the kernel only once
// all of it is read, so fewer, larger blocks leave the kernel less room while the reader is held
// up: 4 x 2 MiB dropped where 16 x 512 KiB did not on a loaded machine. 8 x 1 MiB keeps the
// room of the old ring (7 of 8 MiB) at half its wake-ups.
inline constexpr uint32_t kRxBlockSize = 1024 * 1024;
inline constexpr uint32_t kRxDefaultBlocks = 8;       // 8 MiB per RX queue
inline constexpr uint32_t kRxMinBlocks = 4;
inline constexpr uint32_t kRxMaxBlocks = 512;         // 512 MiB per RX queue
// A quiet link still delivers within ~25 ms (+1 jiffy); at 400 kpps of small packets a 1 MiB
// block fills in ~17 ms, so the blocks, not the timeout, set the wake-up rate there.
inline constexpr uint32_t kRxRetireMs = 25;
inline constexpr uint32_t kRxWalkBytes = 128 * 1024;  // block bytes one rxsync walks: a quarter of a 512 KiB L2
// The walk asks for the block's lines this far ahead of the packet it reads. The kernel filled
// the block on another CPU, so the first read of each header misses; packets lie one after the
// other, but each header says where the next one starts, so the walk itself cannot run ahead:
// the block's bytes in order can. ~6 small packets ahead covers a miss's latency.
inline constexpr uint32_t kRxPrefetchAhead = 1024;
// tpacket_block_desc rounded to 8 bytes: where the first packet of a block may start.
inline constexpr uint32_t kV3BlockHeader = (sizeof(tpacket_block_desc) + 7) & ~7u;
// Headroom before each frame (PACKET_RESERVE) where a VLAN tag the kernel took out is put back.
inline constexpr uint32_t kVlanReserve = 4;
// Bytes one 60-byte frame (the Ethernet minimum) occupies in a V3 block: the header area up to
// tp_mac is TPACKET_ALIGN(TPACKET3_HDRLEN + 16) + reserve - 14 = 86, plus the frame, 8-byte aligned.
inline constexpr uint32_t kV3Footprint60 = (86 + 60 + 7) & ~7u;
inline constexpr uint32_t kRxPacketsPerBlock60 = (kRxBlockSize - kV3BlockHeader - 1) / kV3Footprint60;
inline constexpr uint32_t kMinSlots = 64;
inline constexpr uint32_t kMaxSlots = 1u << 22;

// --- TX sizing ----------------------------------------------------------------------------------
inline constexpr uint32_t kTxDataOffset = TPACKET2_HDRLEN - sizeof(sockaddr_ll);  // 32: frame data start
inline constexpr uint32_t kTxMinFrameSize = 2048;
inline constexpr uint32_t kTxMinBlockSize = 64 * 1024;
inline constexpr uint32_t kTxDefaultFrames = 4096;
inline constexpr size_t kTxDefaultMaxBytes = size_t(64) << 20;  // default ring stays under 64 MiB
inline constexpr size_t kTxMaxBytes = size_t(1) << 30;

inline uint32_t next_pow2(uint32_t v) {
  uint32_t p = 1;
  while (p < v) p <<= 1;
  return p;
}

inline std::string mib(size_t bytes) {
  if (bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
  return std::to_string(bytes >> 10) + " KiB";
}

inline constexpr const char* kPermissionMsg = "needs CAP_NET_RAW: run as root or setcap cap_net_raw,cap_net_admin+ep $(which node)";

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
  uint32_t fetched = 0;     // cur_blk's lines below this offset were prefetched (kRxPrefetchAhead)
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
  AfPacketPort(const std::string& ifname, const OpenOptions& opts);

  ~AfPacketPort() override { close(); }

  int rxsync() override;

  int txsync() override;

  int wait(unsigned events, int timeout_ms, int wake_fd) override;

  int fd() const override;

  bool attach_filter(const std::vector<BpfInsn>& prog) override;

  PortCounters counters() override;

  void close() override;

 private:
  // --- opening ------------------------------------------------------------------------------

  void check_sizes();

  int new_socket();

  void bind_to(int fd, uint16_t protocol);

  void set_int(int fd, int level, int opt, int v, const char* what);

  // Member m of the fanout group receives queue_mapping % N == m; see the header comment.
  uint32_t queue_of_member(uint32_t m, uint32_t nq) const { return (m + nq - qm_offset_) % nq; }
  uint32_t member_of_queue(uint32_t q, uint32_t nq) const { return (q + qm_offset_) % nq; }

  void open_rx();

  void open_tx();

  void describe();

  PortError sys_error(const std::string& what, int e) const;
  PortError down_error(int e) const;

  // --- RX -----------------------------------------------------------------------------------

  // Give blocks back to the kernel, oldest first, once every slot walked from them is released.
  static void release_blocks(RxQueue& q);

  // Fill free slots from blocks the kernel has handed over, in order.
  int walk(Ring& r, RxQueue& q);

  int malformed();

  void note_rx_error(int fd);

  int finish_rx_fault() { return iface_fault(rx_fault_errno_); }

  // The interface under us went away or went down: say which, end the port, return -errno.
  int iface_fault(int e);

  void read_stats_locked();

  // --- TX -----------------------------------------------------------------------------------

  // May the kernel send this frame? Refused frames never reach the wire (see hand_over).
  bool frame_ok(const uint8_t* d, uint32_t len) const;

  int hand_over(Ring& r, uint32_t i);

  // Move `unsent` over frames the kernel has taken (any status but SEND_REQUEST).
  void skip_taken(const Ring& r);

  int kick();

  // --- common -------------------------------------------------------------------------------

  // --- waiting (the template is Port::wait_loop) --------------------------------------------

  int idle_check(unsigned events, uint64_t now, uint64_t* timeout_ns) override;

  // ppoll on the RX sockets (POLLIN), the TX socket (errors only: its POLLOUT is always set, see
  // the header comment) and the wake fd.
  int block(unsigned events, uint64_t timeout_ns, int wake_fd) override;

  // A failed sync prologue already ended the port (ERR_PORT_PROTOCOL); later waits return this.
  int fail_errno(int rc);



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

}  // namespace nmc::af_packet
