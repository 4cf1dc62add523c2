// A port: one open endpoint (a pipe end, a NIC through netmap, AF_PACKET or AF_XDP) presented as
// netmap rings. The capture and replay loops see only this interface.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "ring/checks.h"
#include "ring/ring.h"

namespace nmc {

struct BpfInsn;  // loops/bpf.h

// Which rings a port needs. Opening only what a loop uses matters for AF_PACKET/AF_XDP (an RX
// socket sees every packet) and mirrors netmap's /R and /T flags.
enum class Direction : uint8_t { kRx = 1, kTx = 2, kBoth = 3 };

struct OpenOptions {
  Direction direction = Direction::kBoth;
  bool promisc = true;       // capture: put the interface in promiscuous mode (restored on close)
  uint32_t rx_slots = 0;     // 0 = backend default
  uint32_t tx_slots = 0;
  uint32_t buf_size = 0;     // pipes only: bytes per buffer; 0 = default (2048)
  uint32_t snaplen = 0;      // capture hint for backends that truncate in the kernel; 0 = whole frame
  int queue = -1;            // one hardware queue only (-1 = all queues)
  uint32_t tx_budget = 0;    // AF_XDP: packets per kick (0 = largest the kernel allows)
  bool zero_copy = false;    // AF_XDP: require zero-copy (fail instead of falling back to copy)
  // A capture filter follows (Port::attach_filter): backends that filter in the kernel receive
  // nothing until then, so no unfiltered packet reaches the rings.
  bool filter_pending = false;
};

struct PortInfo {
  std::string name;         // what the user asked for, e.g. "pipe:x{0", "af_packet:eth0"
  std::string backend;      // "pipe", "netmap", "af_packet", "af_xdp"
  std::string ifname;       // for the pcapng IDB if_name
  std::string description;  // human-readable, e.g. "netmap pipe master end 0 of x"
  uint16_t link_type = 1;   // LINKTYPE_ETHERNET
  uint32_t max_frame = 0;   // largest frame TX can send (0 = limited only by the buffers)
  bool tx_fragments = false; // TX takes a packet spread over several slots with NS_MOREFRAG
  TsSource ts_source = TsSource::kNone;
  // Which counters this backend can measure at all; the rest are reported as unknown.
  bool knows_rx_drops = false;
  bool knows_rx_received = false;
  std::string mode;  // backend detail worth printing, e.g. "copy", "zero-copy", "TPACKET_V3"
  // AF_XDP facts as data (`mode` says them to people; code reads these, never `mode` parsed back).
  struct Xdp {
    bool present = false;      // an af_xdp port
    bool zero_copy = false;
    std::string attach;        // "drv", "skb", or "" without an XDP program (TX only)
    std::string method;        // "bpf link", "netlink", or ""
    std::string drv_refusal;   // why driver mode was refused when attach is "skb"
    int64_t tx_budget = -1;    // copy-mode TX packets per kick; 0 = kernel default; -1 = no copy-mode TX
  } xdp;
};

// Counters the backend measured since open. An empty optional means "this backend cannot know".
struct PortCounters {
  std::optional<uint64_t> rx_received;  // frames the kernel saw for us (incl. dropped ones)
  std::optional<uint64_t> rx_drops;     // frames lost before we could read them
  std::optional<uint64_t> rx_ring_full; // AF_XDP detail
};

// wait() events.
enum : unsigned {
  kWaitRx = 1,          // some RX ring has packets
  kWaitTx = 2,          // some TX ring has a free slot
  kWaitTxProgress = 4,  // a TX completion happened (tail moved): used while draining
};

// wait() results besides a negative errno.
enum : int {
  kWaitTimeout = 0,
  kWaitReady = 1,
  kWaitWoken = 2,  // the wake fd fired (someone asked us to stop)
};

// Stable error codes shared with the TypeScript side (src/errors.ts).
namespace errc {
inline constexpr const char* kBadName = "ERR_PORT_BAD_NAME";
inline constexpr const char* kNotFound = "ERR_PORT_NOT_FOUND";     // no such interface / pipe
inline constexpr const char* kDown = "ERR_PORT_DOWN";              // interface is down
inline constexpr const char* kPermission = "ERR_PORT_PERMISSION";  // missing CAP_NET_RAW/ADMIN
inline constexpr const char* kNoNetmap = "ERR_NETMAP_UNAVAILABLE"; // no /dev/netmap
inline constexpr const char* kBusy = "ERR_PORT_BUSY";              // e.g. another XDP program
inline constexpr const char* kUnsupported = "ERR_PORT_UNSUPPORTED";
inline constexpr const char* kPeerDied = "ERR_PEER_DIED";          // pipe peer vanished
inline constexpr const char* kPeerClosed = "ERR_PEER_CLOSED";      // pipe peer closed in order
inline constexpr const char* kGone = "ERR_PORT_GONE";              // interface vanished mid-run
inline constexpr const char* kIo = "ERR_PORT_IO";
// An index or slot broke the ring protocol: a head/cur moved outside [head, tail], or a value a
// pipe peer wrote into shared memory (buf_idx, len, prod/cons) that no correct peer writes.
inline constexpr const char* kProtocol = "ERR_PORT_PROTOCOL";
}  // namespace errc

class PortError : public std::runtime_error {
 public:
  PortError(const char* code, const std::string& message, int sys_errno = 0)
      : std::runtime_error(message), code_(code), errno_(sys_errno) {}
  const char* code() const { return code_; }
  int sys_errno() const { return errno_; }

 private:
  const char* code_;
  int errno_;
};

// Between TX completion checks of backends whose kernel sends no completion wake-up (AF_PACKET,
// AF_XDP copy mode): 20 us doubling to 1 ms, so a wait neither spins nor adds much latency.
class TxBackoff {
 public:
  static constexpr uint64_t kFirstNs = 20000;
  static constexpr uint64_t kMaxNs = 1000000;
  uint64_t step() {
    uint64_t v = next_;
    next_ = next_ * 2 > kMaxNs ? kMaxNs : next_ * 2;
    return v;
  }

 private:
  uint64_t next_ = kFirstNs;
};

// Why a port stopped delivering. Not every end is an error: a pipe peer that closed in order
// is the normal end of a replay seen from the capture side.
enum class PortEnd : uint8_t { kNone = 0, kPeerClosed, kPeerDied, kGone, kError };

class Port {
 public:
  virtual ~Port() = default;
  Port(const Port&) = delete;
  Port& operator=(const Port&) = delete;

  const PortInfo& info() const { return info_; }
  std::vector<Ring>& tx_rings() { return tx_; }
  std::vector<Ring>& rx_rings() { return rx_; }

  // Non-blocking, as NIOCTXSYNC / NIOCRXSYNC. txsync hands [old head, head) of every TX ring to
  // the backend and moves tail over completed slots; rxsync releases [old head, head) of every
  // RX ring and moves tail over received slots, stamping ts_ns. Return 0 or -errno; after a
  // failure end() and error() say what happened.
  virtual int txsync() = 0;
  virtual int rxsync() = 0;

  // Block like poll() on a netmap fd until one of `events` holds, the timeout (ms, -1 forever)
  // expires, or wake_fd (if >= 0) becomes readable. Performs the implied syncs, so on return the
  // rings are up to date. Cheap when already ready: no syscall is needed in busy periods.
  virtual int wait(unsigned events, int timeout_ms, int wake_fd) = 0;

  // The pollable fd (what netmap users poll). -1 if the backend has none.
  virtual int fd() const = 0;

  virtual PortCounters counters() { return {}; }

  // Runs a checked classic-BPF capture filter (empty: none) in the kernel, before packets reach
  // the RX rings. true if the backend did; false if the capture loop must run it. Called once,
  // after open with filter_pending and before the first rxsync.
  virtual bool attach_filter(const std::vector<BpfInsn>& prog) {
    (void)prog;
    return false;
  }

  // Release everything (rings, sockets, XDP programs, promiscuous mode). Idempotent; the
  // destructor calls it too.
  virtual void close() = 0;

  PortEnd end() const { return end_; }
  const std::string& error() const { return error_; }
  const char* error_code() const { return error_code_; }

  // A slot or index broke the ring protocol (see errc::kProtocol): the port ends with that
  // error, and every later sync fails. Returns -EPROTO.
  int protocol_violation(const std::string& what) {
    set_end(PortEnd::kError, errc::kProtocol, info_.name + ": " + what + "; the port is closed");
    return -EPROTO;
  }

  // TX slots handed to the backend and not yet completed, over all TX rings.
  uint64_t tx_pending_total() const {
    uint64_t n = 0;
    for (const Ring& r : tx_) n += tx_pending_count(r);
    return n;
  }

 protected:
  Port() = default;

  // netmap's sync prologue for ring r, whose head was old_head at the previous sync: 0, or the
  // port ends with ERR_PORT_PROTOCOL and -EINVAL comes back.
  int sync_prologue(const Ring& r, uint32_t old_head, const char* sync_name) {
    if (head_cur_ok(r, old_head)) return 0;
    protocol_violation(std::string(sync_name) + ": " + (r.is_tx ? "tx" : "rx") + " ring " + std::to_string(r.index) +
                       ": " + head_cur_error(r, old_head));
    return -EINVAL;
  }

  // The wait() of backends whose syncs are ours (every backend but netmap, whose poll() syncs
  // inside the kernel): sync, stop once any ring of the asked direction is ready, let the
  // backend check its health (idle_check), block the backend's way (block), again. TX waits of
  // backends without completion wake-ups block in TxBackoff steps.
  int wait_loop(unsigned events, int timeout_ms, int wake_fd);

  // How the backend sleeps: until something may have changed for `events`, timeout_ns passed
  // (UINT64_MAX: no limit) or wake_fd is readable. 0 (look again), kWaitWoken or -errno.
  virtual int block(unsigned /*events*/, uint64_t /*timeout_ns*/, int /*wake_fd*/) { return -ENOSYS; }
  // After a sync found nothing ready: 0 to go on waiting, -errno to end the wait (the port
  // ended). May shorten *timeout_ns (a health check due sooner).
  virtual int idle_check(unsigned /*events*/, uint64_t /*now_ns*/, uint64_t* /*timeout_ns*/) { return 0; }
  // True when a TX completion wakes block() (pipes); else TX waits back off.
  virtual bool tx_completion_wakes() const { return false; }

  // Is any ring of the asked direction ready? kWaitTxProgress: a TX tail moved since
  // snapshot_tx_tails() (the start of the wait), or nothing is pending on any TX ring.
  bool rings_ready(unsigned events) const;
  void snapshot_tx_tails();

  // The syncs a wait() for `events` implies, as netmap's poll() does them: rxsync for kWaitRx,
  // txsync for kWaitTx / kWaitTxProgress. 0 or the first failure's -errno.
  int sync_for(unsigned events) {
    if ((events & kWaitRx) && !rx_.empty()) {
      if (int rc = rxsync(); rc < 0) return rc;
    }
    if ((events & (kWaitTx | kWaitTxProgress)) && !tx_.empty()) {
      if (int rc = txsync(); rc < 0) return rc;
    }
    return 0;
  }
  void set_end(PortEnd e, const char* code, std::string msg) {
    if (end_ == PortEnd::kNone) {
      end_ = e;
      error_code_ = code;
      error_ = std::move(msg);
    }
  }

  PortInfo info_;
  std::vector<Ring> tx_;
  std::vector<Ring> rx_;

 private:
  std::vector<uint32_t> tx_tails0_;
  PortEnd end_ = PortEnd::kNone;
  const char* error_code_ = "";
  std::string error_;
};

// Opens a port by its explicit name: "pipe:NAME{N", "pipe:NAME}N", "netmap:IF...", "valeX:Y",
// "af_packet:IF", "af_xdp:IF". Bare interface names are resolved in TypeScript
// (src/ports/names.ts) before reaching here. Throws PortError.
std::unique_ptr<Port> open_port(const std::string& name, const OpenOptions& opts);

// Backend factories, one per file (port_<backend>.cc).
std::unique_ptr<Port> open_pipe_port(const std::string& spec, const OpenOptions& opts);
std::unique_ptr<Port> open_netmap_port(const std::string& spec, const OpenOptions& opts);
std::unique_ptr<Port> open_af_packet_port(const std::string& ifname, const OpenOptions& opts);
std::unique_ptr<Port> open_af_xdp_port(const std::string& ifname, const OpenOptions& opts);

}  // namespace nmc
