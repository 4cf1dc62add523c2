// Pipe rendezvous: the abstract socket, the shared memory (created or joined and checked), the
// acceptor thread and the messages to the peer (see pipe_port.h).
#include "ports/pipe/pipe_port.h"

namespace nmc::pipe {

sockaddr_un PipePort::address(socklen_t* len) const {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::string path = "nmcap/pipe/" + pn_.base + "/" + pn_.number;
  a.sun_path[0] = '\0';  // abstract namespace: the name vanishes with its last socket
  std::memcpy(a.sun_path + 1, path.data(), path.size());
  *len = socklen_t(offsetof(sockaddr_un, sun_path) + 1 + path.size());
  return a;
}

void PipePort::open_rendezvous() {
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

void PipePort::create_shm() {
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
  for (int& e : wake_efd_) {
    e = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (e < 0) throw sys_error("eventfd", errno);
  }
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

void PipePort::join_shm() {
  Hello hello{kShmMagic, kShmVersion, role_, {0, 0, 0}, int32_t(::getpid())};
  if (::send(sock_, &hello, sizeof hello, MSG_NOSIGNAL) != ssize_t(sizeof hello)) throw sys_error("handshake", errno);
  WelcomeMsg m;
  const Welcome& w = m.w;
  msghdr& msg = m.msg;
  pollfd pfd{sock_, POLLIN, 0};
  if (::poll(&pfd, 1, 5000) <= 0)
    throw PortError(errc::kIo, "pipe:" + pn_.text() + ": the other end did not answer the handshake");
  ssize_t got = ::recvmsg(sock_, &msg, MSG_CMSG_CLOEXEC);
  int fds[kWelcomeFds] = {-1, -1, -1};
  size_t nfds = 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < k; ++i) {
      int f;
      std::memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof f);
      if (nfds < kWelcomeFds) fds[nfds++] = f;
      else ::close(f);  // more than a Welcome carries: not ours to keep
    }
  }
  const int fd = fds[kFdMemory];
  auto drop_fd = [&] {
    for (int& f : fds)
      if (f >= 0) ::close(f), f = -1;
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
  if (w.status != kWelcomeOk || nfds != kWelcomeFds) {
    drop_fd();
    throw PortError(errc::kBusy, "pipe:" + pn_.text() + ": both ends are already open (process " +
                                     std::to_string(w.pid) + " and its peer)");
  }
  struct stat st;
  if (::fstat(fd, &st) < 0 || size_t(st.st_size) < sizeof(PipeShmHeader) || size_t(st.st_size) > kMaxShmBytes) {
    drop_fd();
    throw PortError(errc::kIo, "pipe: the shared memory from the other end has a bad size");
  }
  // The wake-up fds are written and slept on: they must be eventfds, not whatever the peer sent.
  for (int i = kFdWake; i < kWelcomeFds; ++i) {
    if (!is_eventfd(fds[i])) {
      drop_fd();
      throw PortError(errc::kIo, "pipe:" + pn_.text() + ": the other end sent a wake-up fd that is not an eventfd");
    }
    ::fcntl(fds[i], F_SETFL, ::fcntl(fds[i], F_GETFL) | O_NONBLOCK);
    wake_efd_[i - kFdWake] = fds[i];
    fds[i] = -1;
  }
  map(fd, size_t(st.st_size));
  ::close(fds[kFdMemory]);  // the mapping keeps the memory alive; only the creator hands the fd out
  fds[kFdMemory] = -1;
  const PipeShmHeader* h = shm_;
  size_t n = h->num_slots, bs = h->buf_size;
  if (h->magic != kShmMagic || h->version != kShmVersion || n < 2 || n > kMaxSlots || bs < 64 || bs > kMaxBufSize ||
      h->total_size != shm_size_ || h->bufs_ofs + 2 * n * bs > shm_size_ ||
      h->slots_ofs[0] + n * sizeof(Slot) > shm_size_ || h->slots_ofs[1] + n * sizeof(Slot) > shm_size_)
    throw PortError(errc::kIo, "pipe: the shared memory from the other end is malformed");
  peer_pid_ = w.pid;
  if (int e = make_poll_set(); e) throw sys_error("epoll", e);
  connected_ = true;
  setup_rings();
}

void PipePort::map(int fd, size_t size) {
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
  if (p == MAP_FAILED) throw sys_error("mmap", errno);
  shm_ = static_cast<PipeShmHeader*>(p);
  shm_size_ = size;
}

void PipePort::setup_rings() {
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

void PipePort::start_acceptor() {
  stop_efd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_efd_ < 0) throw sys_error("eventfd", errno);
  acceptor_ = std::thread([this] { accept_loop(); });
}

void PipePort::stop_acceptor() {
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
void PipePort::accept_loop() {
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
    WelcomeMsg m;
    Welcome& w = m.w;
    w = Welcome{kShmMagic, kShmVersion, kWelcomeOk, {0, 0, 0}, int32_t(::getpid())};
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
    msghdr& msg = m.msg;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(kWelcomeFds * sizeof(int));
    const int fds[kWelcomeFds] = {memfd_, wake_efd_[0], wake_efd_[1]};
    std::memcpy(CMSG_DATA(c), fds, sizeof fds);
    if (::sendmsg(s, &msg, MSG_NOSIGNAL) != ssize_t(sizeof w)) {
      ::close(s);
      continue;
    }
    ::fcntl(s, F_SETFL, ::fcntl(s, F_GETFL) | O_NONBLOCK);
    peer_pid_ = hello.pid;
    sock_ = s;
    if (make_poll_set() != 0) {  // the peer then sees us hang up; a latecomer may try again
      ::close(s);
      sock_ = -1;
      continue;
    }
    connected_.store(true, std::memory_order_release);
    uint64_t one = 1;
    (void)!::write(conn_efd_, &one, sizeof one);
  }
}

// Read whatever the peer sent (a goodbye), or notice a hang-up.
void PipePort::service_socket() {
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

void PipePort::mark_peer(PortEnd e) {
  PortEnd none = PortEnd::kNone;
  peer_end_.compare_exchange_strong(none, e);
}

void PipePort::notify() {
  if (!connected_.load(std::memory_order_acquire) || peer_gone()) return;
  uint64_t one = 1;
  (void)!::write(wake_efd_[1 - role_], &one, sizeof one);  // never blocks: the counter only saturates
}

int PipePort::make_poll_set() {
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) return errno;
  for (int f : {wake_efd_[role_], sock_}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = f;
    if (::epoll_ctl(ep, EPOLL_CTL_ADD, f, &ev) < 0) {
      int e = errno;
      ::close(ep);
      return e;
    }
  }
  poll_epfd_ = ep;
  return 0;
}

bool PipePort::is_eventfd(int fd) {
  char link[64];
  ssize_t n = ::readlink(("/proc/self/fd/" + std::to_string(fd)).c_str(), link, sizeof link - 1);
  return n > 0 && std::string(link, size_t(n)) == "anon_inode:[eventfd]";
}

}  // namespace nmc::pipe
