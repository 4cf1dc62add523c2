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
//
// Files: af_xdp_port.h (this: the port's state and the backend's constants), af_xdp_setup.cc
// (queues, ring sizes, UMEM, sockets, the XDP program, the ring model's rings), af_xdp_rx.cc (the
// RX path and the FILL ring), af_xdp_tx.cc (the TX path and the COMPLETION ring), port_af_xdp.cc
// (the Port glue: waiting, liveness, counters, close), af_xdp_ring.h (one mapped AF_XDP ring),
// xdp_prog.h (the XDP program).
#pragma once

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

namespace nmc::af_xdp {

inline constexpr uint32_t kDefaultRxSlots = 2048;
inline constexpr uint32_t kDefaultTxSlots = 2048;
inline constexpr uint32_t kMinSlots = 64;
inline constexpr uint32_t kMaxSlots = 16384;
inline constexpr uint32_t kXdpPacketHeadroom = 256;  // XDP_PACKET_HEADROOM: the kernel's, before RX data
inline constexpr int kXdpMaxTxSkbBudget = 9;         // sockopt, Linux 6.17+ (not in older uapi headers)
inline constexpr uint32_t kKernelTxBudget = 32;      // the kernel's per-call copy-mode default (TX_BATCH_SIZE)
inline constexpr uint32_t kSkippedChunk = UINT32_MAX;
inline constexpr uint64_t kProbeEveryNs = 200'000'000;  // how often a wait looks at the interface

// Extends a free-running u32 kernel index to 64 bits. Safe against concurrent callers; correct
// as long as it is called at least once per 2^32 increments (every rxsync and counters() call it).
inline uint64_t extend_u32(std::atomic<uint64_t>& last, uint32_t now) {
  uint64_t old = last.load(std::memory_order_relaxed);
  for (;;) {
    uint64_t next = old + uint32_t(now - uint32_t(old));
    if (next == old || last.compare_exchange_weak(old, next, std::memory_order_relaxed)) return next;
  }
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
  AfXdpPort(const std::string& ifname, const OpenOptions& opts);

  ~AfXdpPort() override { close(); }

  int txsync() override;

  int rxsync() override;

  int wait(unsigned events, int timeout_ms, int wake_fd) override;

  int fd() const override;

  PortCounters counters() override;

  void close() override;

 private:
  // --- opening (af_xdp_setup.cc) ------------------------------------------------------------

  void open();

  std::string mtu_message(const xdp::LinkState& ls, uint32_t page) const;

  void raise_memlock(size_t need);

  std::unique_ptr<XskSocket> make_socket(const xdp::LinkState& ls, uint32_t q, bool rx, bool tx);

  void set_promisc(int ifindex);

  void build_rings();

  void describe(const xdp::LinkState& ls, const std::vector<uint32_t>& rx_queues, uint32_t txq);

  // --- TX (af_xdp_tx.cc) --------------------------------------------------------------------

  int kick_tx(XskSocket& s);

  void reap_completions(XskSocket& s, Ring& r);

  // --- waiting and liveness (port_af_xdp.cc; the template is Port::wait_loop) ---------------

  // The interface went down or vanished: end the port saying which, return -errno.
  int gone(int e);

  int idle_check(unsigned events, uint64_t now, uint64_t* timeout_ns) override;

  int block(unsigned events, uint64_t timeout_ns, int wake_fd) override;

  int probe_alive();

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

}  // namespace nmc::af_xdp
