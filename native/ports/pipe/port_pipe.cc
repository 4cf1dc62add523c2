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
// side sends one byte on the socket only if that flag is set. Busy periods cost no syscalls.
// The socket also tells us about the peer: a 'B' (bye) message before an orderly close, a hang-up
// without one when the peer died.
#include <fcntl.h>
#include <poll.h>
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

namespace nmc {
namespace {

constexpr uint32_t kShmMagic = 0x504d4e4e;  // "NNMP"
constexpr uint32_t kShmVersion = 1;
constexpr uint32_t kDefaultSlots = 4096;
constexpr uint32_t kDefaultBufSize = 2048;
constexpr uint32_t kMaxSlots = 1u << 20;
constexpr uint32_t kMaxBufSize = 65536;
constexpr size_t kMaxShmBytes = size_t(4) << 30;

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
constexpr uint8_t kMsgWake = 'W';
constexpr uint8_t kMsgBye = 'B';

size_t round_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

PortError sys_error(const std::string& what, int e) {
  return PortError(errc::kIo, "pipe: " + what + ": " + std::strerror(e), e);
}

class PipePort final : public Port {
 public:
  PipePort(const PipeName& pn, const OpenOptions& opts) : pn_(pn), opts_(opts) {
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

  ~PipePort() override { close(); }

  int txsync() override {
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

  int rxsync() override {
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

  int wait(unsigned events, int timeout_ms, int wake_fd) override {
    if (!shm_) return -EBADF;
    return wait_loop(events, timeout_ms, wake_fd);
  }

  int fd() const override { return connected_.load(std::memory_order_acquire) ? sock_ : conn_efd_; }

  PortCounters counters() override {
    PortCounters c;
    if (!rx_.empty()) {
      c.rx_received = rx_packets_;
      c.rx_drops = 0;  // by construction: a pipe has no place to drop (the sender waits instead)
    }
    return c;
  }

  void close() override {
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
    if (conn_efd_ >= 0) ::close(conn_efd_);
    conn_efd_ = -1;
    if (memfd_ >= 0) ::close(memfd_);
    memfd_ = -1;
    if (shm_) {
      ::munmap(shm_, shm_size_);
      shm_ = nullptr;
    }
    tx_.clear();
    rx_.clear();
  }

 private:
  PipeRingCtl& out_ctl() { return shm_->ctl[role_ == kMaster ? 0 : 1]; }
  PipeRingCtl& in_ctl() { return shm_->ctl[role_ == kMaster ? 1 : 0]; }

  bool peer_gone() const { return peer_end_.load(std::memory_order_relaxed) != PortEnd::kNone; }

  // --- rendezvous ---------------------------------------------------------------------------

  sockaddr_un address(socklen_t* len) const {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::string path = "nmcap/pipe/" + pn_.base + "/" + pn_.number;
    a.sun_path[0] = '\0';  // abstract namespace: the name vanishes with its last socket
    std::memcpy(a.sun_path + 1, path.data(), path.size());
    *len = socklen_t(offsetof(sockaddr_un, sun_path) + 1 + path.size());
    return a;
  }

  void open_rendezvous() {
    conn_efd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (conn_efd_ < 0) throw sys_error("eventfd", errno);
    socklen_t alen;
    sockaddr_un addr = address(&alen);
    for (int attempt = 0; attempt < 100; ++attempt) {
      int s = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
      if (s < 0) throw sys_error("socket", errno);
      if (::bind(s, reinterpret_cast<sockaddr*>(&addr), alen) == 0) {
        if (::listen(s, 8) < 0) {
          int e = errno;
          ::close(s);
          throw sys_error("listen", e);
        }
        listen_sock_ = s;
        create_shm();
        start_acceptor();
        return;
      }
      if (errno != EADDRINUSE) {
        int e = errno;
        ::close(s);
        throw sys_error("bind", e);
      }
      if (::connect(s, reinterpret_cast<sockaddr*>(&addr), alen) == 0) {
        sock_ = s;
        join_shm();
        ::fcntl(s, F_SETFL, ::fcntl(s, F_GETFL) | O_NONBLOCK);
        return;
      }
      ::close(s);
      // ECONNREFUSED: the first end is going away right now; try to become the first end.
      ::usleep(2000);
    }
    throw PortError(errc::kBusy, "pipe:" + pn_.text() + ": could neither create nor join the pipe");
  }

  void create_shm() {
    uint32_t n = opts_.tx_slots ? opts_.tx_slots : opts_.rx_slots ? opts_.rx_slots : kDefaultSlots;
    uint32_t bs = opts_.buf_size ? opts_.buf_size : kDefaultBufSize;
    if (n < 2 || n > kMaxSlots)
      throw PortError(errc::kUnsupported, "pipe rings must have 2 to " + std::to_string(kMaxSlots) + " slots");
    if (bs < 64 || bs > kMaxBufSize || bs % 64)
      throw PortError(errc::kUnsupported, "pipe buffers must be a multiple of 64 bytes, from 64 to 65536");
    size_t slots_bytes = round_up(sizeof(Slot) * n, 4096);
    size_t hdr = round_up(sizeof(PipeShmHeader), 4096);
    size_t total = hdr + 2 * slots_bytes + size_t(2) * n * bs;
    if (total > kMaxShmBytes) throw PortError(errc::kUnsupported, "pipe rings too large (over 4 GiB)");
    int fd = ::memfd_create(("nmcap-pipe-" + pn_.base).c_str(), MFD_CLOEXEC);
    if (fd < 0) throw sys_error("memfd_create", errno);
    memfd_ = fd;
    if (::ftruncate(fd, off_t(total)) < 0) throw sys_error("cannot size the shared memory", errno);
    map(fd, total);
    PipeShmHeader* h = shm_;
    h->magic = kShmMagic;
    h->version = kShmVersion;
    h->num_slots = n;
    h->buf_size = bs;
    h->total_size = total;
    h->slots_ofs[0] = hdr;
    h->slots_ofs[1] = hdr + slots_bytes;
    h->bufs_ofs = hdr + 2 * slots_bytes;
    for (uint32_t d = 0; d < 2; ++d) {
      Slot* s = reinterpret_cast<Slot*>(base() + h->slots_ofs[d]);
      for (uint32_t i = 0; i < n; ++i) s[i] = Slot{d * n + i, 0, 0, 0};
      new (&h->ctl[d]) PipeRingCtl();
    }
    setup_rings();
  }

  void join_shm() {
    Hello hello{kShmMagic, kShmVersion, role_, {0, 0, 0}, int32_t(::getpid())};
    if (::send(sock_, &hello, sizeof hello, MSG_NOSIGNAL) != ssize_t(sizeof hello)) throw sys_error("handshake", errno);
    Welcome w{};
    char cbuf[CMSG_SPACE(sizeof(int))];
    iovec iov{&w, sizeof w};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof cbuf;
    pollfd pfd{sock_, POLLIN, 0};
    if (::poll(&pfd, 1, 5000) <= 0)
      throw PortError(errc::kIo, "pipe:" + pn_.text() + ": the other end did not answer the handshake");
    ssize_t got = ::recvmsg(sock_, &msg, MSG_CMSG_CLOEXEC);
    int fd = -1;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
    auto drop_fd = [&] {
      if (fd >= 0) ::close(fd);
    };
    if (got != ssize_t(sizeof w) || w.magic != kShmMagic || w.version != kShmVersion) {
      drop_fd();
      throw PortError(errc::kIo, "pipe:" + pn_.text() + ": bad handshake from the other end (another nmcap version?)");
    }
    if (w.status == kWelcomeSameEnd) {
      drop_fd();
      throw PortError(errc::kBusy, "pipe:" + pn_.text() + " is already open in process " + std::to_string(w.pid) +
                                       "; each end of a pipe can be opened once");
    }
    if (w.status != kWelcomeOk || fd < 0) {
      drop_fd();
      throw PortError(errc::kBusy, "pipe:" + pn_.text() + ": both ends are already open (process " +
                                       std::to_string(w.pid) + " and its peer)");
    }
    struct stat st;
    if (::fstat(fd, &st) < 0 || size_t(st.st_size) < sizeof(PipeShmHeader) || size_t(st.st_size) > kMaxShmBytes) {
      drop_fd();
      throw PortError(errc::kIo, "pipe: the shared memory from the other end has a bad size");
    }
    map(fd, size_t(st.st_size));
    ::close(fd);  // the mapping keeps the memory alive; only the creator hands the fd out
    const PipeShmHeader* h = shm_;
    size_t n = h->num_slots, bs = h->buf_size;
    if (h->magic != kShmMagic || h->version != kShmVersion || n < 2 || n > kMaxSlots || bs < 64 || bs > kMaxBufSize ||
        h->total_size != shm_size_ || h->bufs_ofs + 2 * n * bs > shm_size_ ||
        h->slots_ofs[0] + n * sizeof(Slot) > shm_size_ || h->slots_ofs[1] + n * sizeof(Slot) > shm_size_)
      throw PortError(errc::kIo, "pipe: the shared memory from the other end is malformed");
    peer_pid_ = w.pid;
    connected_ = true;
    setup_rings();
  }

  void map(int fd, size_t size) {
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
    if (p == MAP_FAILED) throw sys_error("mmap", errno);
    shm_ = static_cast<PipeShmHeader*>(p);
    shm_size_ = size;
  }

  uint8_t* base() const { return reinterpret_cast<uint8_t*>(shm_); }

  void setup_rings() {
    const PipeShmHeader* h = shm_;
    int out_dir = role_ == kMaster ? 0 : 1;
    auto make = [&](int dir, bool is_tx) {
      Ring r;
      r.num_slots = h->num_slots;
      r.buf_size = h->buf_size;
      r.num_bufs = 2 * h->num_slots;
      r.untrusted = true;  // the other process writes this slot array and these indices too
      r.index = 0;
      r.is_tx = is_tx;
      r.slot = reinterpret_cast<Slot*>(base() + h->slots_ofs[dir]);
      r.buf_base = base() + h->bufs_ofs;
      r.ts_source = is_tx ? TsSource::kNone : TsSource::kSyncNanos;
      const PipeRingCtl& c = h->ctl[dir];
      const uint32_t prod = c.prod.load(std::memory_order_acquire), cons = c.cons.load(std::memory_order_acquire);
      if (prod >= r.num_slots || cons >= r.num_slots)
        throw PortError(errc::kProtocol, "pipe:" + pn_.text() + ": the other end left ring indices beyond its " +
                                             std::to_string(r.num_slots) + " slots (prod " + std::to_string(prod) +
                                             ", cons " + std::to_string(cons) + ")");
      if (is_tx) {
        r.head = r.cur = prod;
        r.tail = ring_prev(r, cons);
        tx_synced_head_ = r.head;
      } else {
        r.head = r.cur = r.tail = cons;
        rx_synced_head_ = r.head;
      }
      return r;
    };
    if (opts_.direction != Direction::kRx) tx_.push_back(make(out_dir, true));
    if (opts_.direction != Direction::kTx) rx_.push_back(make(1 - out_dir, false));
  }

  // --- the acceptor thread (first end only) -------------------------------------------------

  void start_acceptor() {
    stop_efd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (stop_efd_ < 0) throw sys_error("eventfd", errno);
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  void stop_acceptor() {
    if (acceptor_.joinable()) {
      uint64_t one = 1;
      (void)!::write(stop_efd_, &one, sizeof one);
      acceptor_.join();
    }
    if (stop_efd_ >= 0) ::close(stop_efd_);
    stop_efd_ = -1;
    if (listen_sock_ >= 0) ::close(listen_sock_);
    listen_sock_ = -1;
  }

  // Answers every opener: the first one of the other end gets the memory; everyone else a clear
  // refusal. Runs until close(), so latecomers never hang.
  void accept_loop() {
    for (;;) {
      pollfd pfd[2] = {{listen_sock_, POLLIN, 0}, {stop_efd_, POLLIN, 0}};
      if (::poll(pfd, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (pfd[1].revents) return;
      if (!(pfd[0].revents & POLLIN)) continue;
      int s = ::accept4(listen_sock_, nullptr, nullptr, SOCK_CLOEXEC);
      if (s < 0) continue;
      Hello hello{};
      pollfd hp{s, POLLIN, 0};
      bool ok = ::poll(&hp, 1, 2000) > 0 && ::recv(s, &hello, sizeof hello, 0) == ssize_t(sizeof hello) &&
                hello.magic == kShmMagic && hello.version == kShmVersion;
      Welcome w{kShmMagic, kShmVersion, kWelcomeOk, {0, 0, 0}, int32_t(::getpid())};
      if (!ok) {
        ::close(s);
        continue;
      }
      if (connected_.load() || peer_gone() || hello.role == role_) {
        w.status = hello.role == role_ ? kWelcomeSameEnd : kWelcomePaired;
        ::send(s, &w, sizeof w, MSG_NOSIGNAL);
        ::close(s);
        continue;
      }
      char cbuf[CMSG_SPACE(sizeof(int))] = {};
      iovec iov{&w, sizeof w};
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = cbuf;
      msg.msg_controllen = sizeof cbuf;
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      std::memcpy(CMSG_DATA(c), &memfd_, sizeof(int));
      if (::sendmsg(s, &msg, MSG_NOSIGNAL) != ssize_t(sizeof w)) {
        ::close(s);
        continue;
      }
      ::fcntl(s, F_SETFL, ::fcntl(s, F_GETFL) | O_NONBLOCK);
      peer_pid_ = hello.pid;
      sock_ = s;
      connected_.store(true, std::memory_order_release);
      uint64_t one = 1;
      (void)!::write(conn_efd_, &one, sizeof one);
    }
  }

  // --- talking to the peer ------------------------------------------------------------------

  // Read whatever the peer sent: wake-ups, a goodbye; or notice a hang-up.
  void service_socket() {
    if (!connected_.load(std::memory_order_acquire)) return;
    uint64_t v;
    (void)!::read(conn_efd_, &v, sizeof v);
    for (;;) {
      uint8_t buf[64];
      ssize_t n = ::recv(sock_, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) {
        if (std::memchr(buf, kMsgBye, size_t(n))) mark_peer(PortEnd::kPeerClosed);
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) mark_peer(PortEnd::kPeerDied);
      break;
    }
  }

  void mark_peer(PortEnd e) {
    PortEnd none = PortEnd::kNone;
    peer_end_.compare_exchange_strong(none, e);
  }

  void notify() {
    if (!connected_.load(std::memory_order_acquire) || peer_gone()) return;
    uint8_t m = kMsgWake;
    // EAGAIN means the peer already has unread wake-ups: nothing is lost.
    ::send(sock_, &m, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
  }

  // --- waiting (the template is Port::wait_loop) --------------------------------------------

  bool tx_completion_wakes() const override { return true; }  // the receiver wakes us (tx_waiting)

  int idle_check(unsigned, uint64_t, uint64_t*) override { return peer_gone() ? ended() : 0; }

  // Spin a little before sleeping: with a busy peer the condition usually turns true within
  // microseconds, and a sleep/wake pair costs syscalls on both sides. Then say we sleep (the
  // waiting flags in shared memory), look once more, and sleep on the socket.
  int block(unsigned events, uint64_t timeout_ns, int wake_fd) override {
    for (int i = 0; i < 512; ++i) {
      if (shared_moved(events)) return 0;
      cpu_relax();
    }
    set_waiting(events, 1);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (shared_moved(events)) {
      set_waiting(events, 0);
      return 0;
    }
    int ms = timeout_ns == UINT64_MAX ? -1 : int(std::min<uint64_t>((timeout_ns + 999999) / 1000000, INT32_MAX));
    pollfd pfd[2];
    nfds_t n = 0;
    // Before a peer arrives, the acceptor thread signals conn_efd_; after, the peer talks on sock_.
    pfd[n++] = {connected_.load(std::memory_order_acquire) ? sock_ : conn_efd_, POLLIN, 0};
    if (wake_fd >= 0) pfd[n++] = {wake_fd, POLLIN, 0};
    int pr = ::poll(pfd, n, ms);
    set_waiting(events, 0);
    if (pr < 0) return errno == EINTR ? 0 : -errno;
    if (pr > 0 && pfd[0].revents) service_socket();
    if (wake_fd >= 0 && pr > 0 && (pfd[1].revents & POLLIN)) return kWaitWoken;
    return 0;
  }

  // Has the peer moved the shared counters since our last sync? (No syscall, no state change.)
  bool shared_moved(unsigned events) {
    if ((events & kWaitRx) && !rx_.empty() && in_ctl().prod.load(std::memory_order_acquire) != rx_[0].tail) return true;
    if ((events & (kWaitTx | kWaitTxProgress)) && !tx_.empty()) {
      const Ring& r = tx_[0];
      uint32_t cons = out_ctl().cons.load(std::memory_order_acquire);
      if ((cons == 0 ? r.num_slots - 1 : cons - 1) != r.tail) return true;
    }
    return false;
  }

  void set_waiting(unsigned events, uint32_t v) {
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
  int ended() {
    if (peer_end_.load() == PortEnd::kPeerClosed)
      set_end(PortEnd::kPeerClosed, errc::kPeerClosed, "the other end of pipe:" + pn_.text() + " closed");
    else
      set_end(PortEnd::kPeerDied, errc::kPeerDied,
              "the other end of pipe:" + pn_.text() + " (process " + std::to_string(peer_pid_) + ") went away without closing");
    return -EPIPE;
  }

  PipeName pn_;
  OpenOptions opts_;
  Role role_;
  int sock_ = -1;         // connection to the peer
  int listen_sock_ = -1;  // first end only, owned by the acceptor thread
  int memfd_ = -1;        // first end only, handed to the peer
  int conn_efd_ = -1;     // signalled by the acceptor when the peer arrives
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

}  // namespace

std::unique_ptr<Port> open_pipe_port(const std::string& spec, const OpenOptions& opts) {
  return std::make_unique<PipePort>(parse_pipe_name(spec), opts);
}

}  // namespace nmc
