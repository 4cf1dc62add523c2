// The XDP side of the af_xdp backend, with raw bpf() and rtnetlink and no libbpf/libxdp/clang:
// the link state of an interface (MTU, up, queues, which XDP program is attached), an XSKMAP,
// a 6-slot redirect program loaded from raw instructions, and attaching it to an interface.
//
// Attaching prefers a BPF link (BPF_LINK_CREATE, attach type BPF_XDP): the link lives as long as
// its fd, so the kernel detaches the program by itself when the process dies, even by SIGKILL.
// Kernels without XDP links (before 5.9) get the netlink way (IFLA_XDP with
// XDP_FLAGS_UPDATE_IF_NOEXIST), which we detach explicitly on close; a killed process leaves that
// one behind (`ip link set dev IF xdp off` removes it).
#pragma once

#include <cstdint>
#include <string>

namespace nmc::xdp {

// What rtnetlink says about an interface.
struct LinkState {
  int ifindex = 0;
  uint32_t mtu = 0;
  bool up = false;                // IFF_UP (administratively up)
  uint32_t num_rx_queues = 0;     // allocated queues (IFLA_NUM_RX_QUEUES)
  uint32_t num_tx_queues = 0;
  uint8_t xdp_attached = 0;       // XDP_ATTACHED_NONE/DRV/SKB/HW/MULTI
  uint32_t xdp_prog_id = 0;       // the (first) attached program's id, 0 if none
  std::string kind;               // IFLA_INFO_KIND: "veth", "bridge", ... ("" for plain NICs)
};

// Looks the interface up by name in the caller's network namespace. Throws PortError
// (kNotFound if there is no such interface, kIo otherwise).
LinkState query_link(const std::string& ifname);

// Real queue counts as the driver reports them (ETHTOOL_GCHANNELS: rx + combined); falls back
// to the allocated counts from rtnetlink when the driver does not implement channels.
struct QueueCounts {
  uint32_t rx = 0;
  uint32_t tx = 0;
};
QueueCounts queue_counts(const std::string& ifname, const LinkState& ls);

enum class AttachMode : uint8_t { kDrv, kSkb };
enum class AttachMethod : uint8_t { kLink, kNetlink };

// An XSKMAP plus the redirect program, attached to one interface until detach() (or the
// destructor). Every method that fails throws PortError with a stable code and leaves nothing
// attached.
class XskProgram {
 public:
  XskProgram() = default;
  ~XskProgram() { detach(); }
  XskProgram(const XskProgram&) = delete;
  XskProgram& operator=(const XskProgram&) = delete;

  // Creates the XSKMAP (max_entries = queues) and loads the program
  //   r2 = ctx->rx_queue_index; r1 = &xskmap; r3 = XDP_PASS; return bpf_redirect_map(r1, r2, r3)
  // which hands every frame of queue q to the socket at key q, and lets frames of queues without
  // a socket pass to the stack.
  void load(uint32_t queues, const std::string& ifname);

  // Attaches to `ifindex`: driver mode first, generic (SKB) mode if the driver refuses.
  // `method` picks the BPF-link or the netlink way; kLink falls back to netlink when the kernel
  // has no XDP links.
  void attach(int ifindex, const std::string& ifname, AttachMethod method);

  // Puts socket `xsk_fd` at key `queue` of the map.
  void set_socket(uint32_t queue, int xsk_fd);

  // Detaches (if attached) and closes everything. Idempotent, never throws.
  void detach();

  bool attached() const { return attached_; }
  AttachMode mode() const { return mode_; }
  AttachMethod method() const { return method_; }
  uint32_t prog_id() const { return prog_id_; }
  // Why driver mode was not used, when generic mode was ("" otherwise).
  const std::string& drv_refusal() const { return drv_refusal_; }

 private:
  int map_fd_ = -1;
  int prog_fd_ = -1;
  int link_fd_ = -1;
  int ifindex_ = 0;
  bool attached_ = false;
  AttachMode mode_ = AttachMode::kDrv;
  AttachMethod method_ = AttachMethod::kLink;
  uint32_t prog_id_ = 0;
  std::string drv_refusal_;
};

}  // namespace nmc::xdp
