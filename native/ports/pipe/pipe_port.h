// Shared-memory pipes between two processes, with netmap pipe semantics: "NAME{N" is the master
// end and "NAME}N" the slave end of pipe N of NAME; what one end transmits the other receives,
// in order, without loss (a sender waits while the peer's ring is full).
//
// Rendezvous: the first end to start binds the abstract unix socket "nmcap/pipe/NAME/N" and
// creates the rings in a memfd; the other end connects and receives the memfd with SCM_RIGHTS.
// Nothing is named in /dev/shm, so nothing stale can outlive the two processes. The first end
// answers handshakes on a small acceptor thread, so a peer is never kept waiting for the user's
// next sync (and one process may open both ends).
//
// Each direction has one ring whose slot array lives in the shared memory. The sender's TX ring
// and the receiver's RX ring are two views of it: the sender publishes `prod` (its head) at
// txsync, the receiver publishes `cons` (its head) at rxsync. Sender tail = cons - 1 (one slot
// stays empty), receiver tail = prod. Buffers are written in place: zero copies between the two.
//
// Wake-ups: a side about to sleep sets a waiting flag in shared memory and re-checks; the other
// side writes the sleeper's eventfd only if that flag is set. Busy periods cost no syscalls. The
// first end makes both ends' eventfds and hands them over with the memory. (A one-byte send on the
// socket cost the waker 6 us here, an eventfd write 4: most of it the wake of the other CPU.)
// The socket tells us about the peer: a 'B' (bye) message before an orderly close, a hang-up
// without one when the peer died. Our pollable fd is an epoll set of our eventfd and the socket.
//
// Files: pipe_port.h (this: the shared layout and the port's state), port_pipe.cc (the rings:
// syncs, waiting, counters), pipe_rendezvous.cc (finding the other end, the shared memory, the
// acceptor thread, the socket to the peer).
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>
#include <thread>

#include "ring/clock.h"
#include "ring/cpu_relax.h"
#include "ports/pipe/pipe_name.h"
#include "ring/port.h"

namespace nmc::pipe {

inline constexpr uint32_t kShmMagic = 0x504d4e4e;  // "NNMP"
inline constexpr uint32_t kShmVersion = 2;  // 2: wake-ups on eventfds
inline constexpr uint32_t kDefaultSlots = 4096;
inline constexpr uint32_t kDefaultBufSize = 2048;
inline constexpr uint32_t kMaxSlots = 1u << 20;
inline constexpr uint32_t kMaxBufSize = 65536;
inline constexpr size_t kMaxShmBytes = size_t(4) << 30;

// Control words of one direction, each on its own cache line so the two sides do not share one.
struct PipeRingCtl {
  alignas(64) std::atomic<uint32_t> prod;        // written by the sender
  alignas(64) std::atomic<uint32_t> cons;        // written by the receiver
  alignas(64) std::atomic<uint32_t> rx_waiting;  // receiver sleeps until prod moves
  // The sender sleeps until cons has moved tx_waiting slots past tx_wait_base (0 = not asleep).
  // Like netmap's cur: waking a sender for every few freed slots would cost the receiver a
  // system call per small batch, so the sender says how much room is worth waking for.
  alignas(64) std::atomic<uint32_t> tx_waiting;
  std::atomic<uint32_t> tx_wait_base;
};

struct PipeShmHeader {
  uint32_t magic;
  uint32_t version;
  uint32_t num_slots;
  uint32_t buf_size;
  uint64_t total_size;
  uint64_t slots_ofs[2];  // direction 0: master -> slave, 1: slave -> master
  uint64_t bufs_ofs;      // one buffer pool; direction d starts with buffers [d*N, (d+1)*N)
  PipeRingCtl ctl[2];
};

enum Role : uint8_t { kMaster = 0, kSlave = 1 };

// Handshake messages on the SOCK_SEQPACKET connection.
struct Hello {
  uint32_t magic;
  uint32_t version;
  uint8_t role;
  uint8_t pad[3];
  int32_t pid;
};
struct Welcome {
  uint32_t magic;
  uint32_t version;
  uint8_t status;  // kWelcomeOk, kWelcomeSameEnd, kWelcomePaired
  uint8_t pad[3];
  int32_t pid;
};
enum : uint8_t { kWelcomeOk = 0, kWelcomeSameEnd = 1, kWelcomePaired = 2 };
inline constexpr uint8_t kMsgBye = 'B';

// The fds (SCM_RIGHTS) that travel with a Welcome: the memory, then each end's wake eventfd.
enum : int { kFdMemory = 0, kFdWake = 1, kWelcomeFds = 3 };

// A Welcome and room for its fds, ready for sendmsg or recvmsg: the handshake message as both
// ends build it.
struct WelcomeMsg {
  Welcome w{};
  char cbuf[CMSG_SPACE(kWelcomeFds * sizeof(int))] = {};
  iovec iov{&w, sizeof w};
  msghdr msg{};
  WelcomeMsg() {
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof cbuf;
  }
  WelcomeMsg(const WelcomeMsg&) = delete;
  WelcomeMsg& operator=(const WelcomeMsg&) = delete;
};

inline size_t round_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

inline PortError sys_error(const std::string& what, int e) {
  return PortError(errc::kIo, "pipe: " + what + ": " + std::strerror(e), e);
}

class PipePort final : public Port {
 public:
  PipePort(const PipeName& pn, const OpenOptions& opts);

  ~PipePort() override { close(); }

  int txsync() override;

  int rxsync() override;

  int wait(unsigned events, int timeout_ms, int wake_fd) override;

  int fd() const override { return connected_.load(std::memory_order_acquire) ? poll_epfd_ : conn_efd_; }

  PortCounters counters() override;

  void close() override;

 private:
  PipeRingCtl& out_ctl() { return shm_->ctl[role_ == kMaster ? 0 : 1]; }
  PipeRingCtl& in_ctl() { return shm_->ctl[role_ == kMaster ? 1 : 0]; }

  bool peer_gone() const { return peer_end_.load(std::memory_order_relaxed) != PortEnd::kNone; }

  // --- rendezvous ---------------------------------------------------------------------------

  sockaddr_un address(socklen_t* len) const;

  void open_rendezvous();

  void create_shm();

  void join_shm();

  void map(int fd, size_t size);

  uint8_t* base() const { return reinterpret_cast<uint8_t*>(shm_); }

  void setup_rings();

  // --- the acceptor thread (first end only) -------------------------------------------------

  void start_acceptor();

  void stop_acceptor();

  // Answers every opener: the first one of the other end gets the memory; everyone else a clear
  // refusal. Runs until close(), so latecomers never hang.
  void accept_loop();

  // --- talking to the peer ------------------------------------------------------------------

  // Read whatever the peer sent (a goodbye), or notice a hang-up.
  void service_socket();

  // Once connected (both ends): the epoll set fd() returns, of our wake eventfd and the socket.
  // 0, or the errno.
  int make_poll_set();

  static bool is_eventfd(int fd);

  void mark_peer(PortEnd e);

  void notify();

  // --- waiting (the template is Port::wait_loop) --------------------------------------------

  bool tx_completion_wakes() const override { return true; }  // the receiver wakes us (tx_waiting)

  int idle_check(unsigned, uint64_t, uint64_t*) override { return peer_gone() ? ended() : 0; }

  // Spin a little before sleeping: with a busy peer the condition usually turns true within
  // microseconds, and a sleep/wake pair costs syscalls on both sides. Then say we sleep (the
  // waiting flags in shared memory), look once more, and sleep on the socket. How long to spin
  // is learnt (spin_budget_): a peer that sends in bursts (a paced sender) leaves gaps no spin
  // bridges, and on a machine with few cores a spin that fails takes the CPU the peer needs.
  int block(unsigned events, uint64_t timeout_ns, int wake_fd) override;
  // cpu_relax rounds of the next spin: doubled after a spin that saw the peer move, halved
  // after one that did not, within these bounds.
  static constexpr uint32_t kSpinMin = 16, kSpinMax = 512;
  uint32_t spin_budget_ = kSpinMax;

  // Has the peer moved the shared counters since our last sync? (No syscall, no state change.)
  bool shared_moved(unsigned events);

  void set_waiting(unsigned events, uint32_t v);

  // Once the peer is gone, waiting for it is pointless: say why (after what was left was drained).
  int ended();

  PipeName pn_;
  OpenOptions opts_;
  Role role_;
  int sock_ = -1;         // connection to the peer
  int listen_sock_ = -1;  // first end only, owned by the acceptor thread
  int memfd_ = -1;        // first end only, handed to the peer
  int conn_efd_ = -1;     // signalled by the acceptor when the peer arrives
  int wake_efd_[2] = {-1, -1};  // indexed by Role: ours we sleep on, the peer's we write
  int poll_epfd_ = -1;          // fd(): our wake eventfd and sock_
  int stop_efd_ = -1;     // stops the acceptor
  std::thread acceptor_;
  std::atomic<bool> connected_{false};
  std::atomic<int32_t> peer_pid_{0};
  std::atomic<PortEnd> peer_end_{PortEnd::kNone};
  PipeShmHeader* shm_ = nullptr;
  size_t shm_size_ = 0;
  uint64_t rx_packets_ = 0;
  // Our head at the last sync of each direction, kept here: the copies in shared memory
  // (prod/cons) are the peer's to scribble on.
  uint32_t tx_synced_head_ = 0;
  uint32_t rx_synced_head_ = 0;
};

}  // namespace nmc::pipe
