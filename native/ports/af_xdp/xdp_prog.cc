// XDP program, XSKMAP and attachment through raw bpf() and rtnetlink. See xdp_prog.h.
#include "ports/af_xdp/xdp_prog.h"

#include <linux/bpf.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "ring/port.h"

namespace nmc::xdp {
namespace {

std::string errno_text(int e) { return std::strerror(e); }

// Netlink requires 4-byte aligned attributes; these helpers append to a byte buffer that holds
// one request (nlmsghdr + ifinfomsg + attributes).
class NlRequest {
 public:
  NlRequest(uint16_t type, uint16_t flags, int ifindex) : buf_(NLMSG_SPACE(sizeof(ifinfomsg)), 0) {
    nlmsghdr* h = hdr();
    h->nlmsg_len = NLMSG_LENGTH(sizeof(ifinfomsg));
    h->nlmsg_type = type;
    h->nlmsg_flags = flags;
    ifinfomsg* ifi = static_cast<ifinfomsg*>(NLMSG_DATA(h));
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = ifindex;
  }

  void put(uint16_t type, const void* data, size_t len) {
    size_t at = NLMSG_ALIGN(hdr()->nlmsg_len);
    buf_.resize(at + RTA_SPACE(len), 0);
    rtattr* a = reinterpret_cast<rtattr*>(buf_.data() + at);
    a->rta_type = type;
    a->rta_len = uint16_t(RTA_LENGTH(len));
    if (len) std::memcpy(RTA_DATA(a), data, len);
    hdr()->nlmsg_len = uint32_t(at + RTA_SPACE(len));
  }
  void put_u32(uint16_t type, uint32_t v) { put(type, &v, sizeof v); }
  void put_s32(uint16_t type, int32_t v) { put(type, &v, sizeof v); }
  void put_str(uint16_t type, const std::string& s) { put(type, s.c_str(), s.size() + 1); }

  size_t begin_nest(uint16_t type) {
    size_t at = NLMSG_ALIGN(hdr()->nlmsg_len);
    put(uint16_t(type | NLA_F_NESTED), nullptr, 0);
    return at;
  }
  void end_nest(size_t at) {
    rtattr* a = reinterpret_cast<rtattr*>(buf_.data() + at);
    a->rta_len = uint16_t(hdr()->nlmsg_len - at);
  }

  nlmsghdr* hdr() { return reinterpret_cast<nlmsghdr*>(buf_.data()); }

 private:
  std::vector<uint8_t> buf_;
};

// One rtnetlink round trip. On success returns 0 and, for requests that answer with a message
// (RTM_GETLINK), copies that message into *reply. On failure returns -errno and the kernel's
// extended-ack text (if any) in *extack.
int nl_transact(NlRequest& req, std::vector<uint8_t>* reply, std::string* extack) {
  int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return -errno;
  int one = 1;
  ::setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);  // best effort: better messages
  sockaddr_nl sa{};
  sa.nl_family = AF_NETLINK;
  static uint32_t seq_counter = 0;
  uint32_t seq = ++seq_counter ^ uint32_t(::getpid() << 8);
  req.hdr()->nlmsg_seq = seq;
  if (::sendto(fd, req.hdr(), req.hdr()->nlmsg_len, 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) {
    int e = errno;
    ::close(fd);
    return -e;
  }
  std::vector<uint8_t> buf(65536);
  int result = -EIO;
  bool done = false;
  while (!done) {
    ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      result = -errno;
      break;
    }
    for (nlmsghdr* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, size_t(n)); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_seq != seq) continue;
      if (h->nlmsg_type == NLMSG_ERROR) {
        const nlmsgerr* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
        result = e->error;  // 0 = ack, else -errno
        if (e->error && extack && (h->nlmsg_flags & NLM_F_ACK_TLVS)) {
          size_t off = sizeof(nlmsgerr);
          if (!(h->nlmsg_flags & NLM_F_CAPPED)) off += e->msg.nlmsg_len - sizeof(nlmsghdr);
          size_t total = h->nlmsg_len - NLMSG_HDRLEN;
          if (off < total) {
            const uint8_t* p = reinterpret_cast<const uint8_t*>(e) + off;
            int left = int(total - off);
            for (const rtattr* a = reinterpret_cast<const rtattr*>(p); RTA_OK(a, left); a = RTA_NEXT(a, left))
              if (a->rta_type == NLMSGERR_ATTR_MSG) *extack = static_cast<const char*>(RTA_DATA(a));
          }
        }
        done = true;
        break;
      }
      if (h->nlmsg_type == RTM_NEWLINK && reply) {
        reply->assign(reinterpret_cast<uint8_t*>(h), reinterpret_cast<uint8_t*>(h) + h->nlmsg_len);
        result = 0;
        // A GETLINK for one interface answers with the message alone (no ack unless asked).
        if (!(req.hdr()->nlmsg_flags & NLM_F_ACK)) done = true;
      }
      if (h->nlmsg_type == NLMSG_DONE) {
        done = true;
        break;
      }
    }
  }
  ::close(fd);
  return result;
}

long sys_bpf(int cmd, bpf_attr* attr) { return ::syscall(__NR_bpf, cmd, attr, sizeof(*attr)); }

constexpr const char* kBpfPrivileges =
    "needs CAP_BPF and CAP_NET_ADMIN (run as root, or grant them with setcap cap_bpf,cap_net_admin,cap_net_raw+ep)";

// eBPF instruction encoding (linux/bpf_common.h + linux/bpf.h).
bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  bpf_insn i{};
  i.code = code;
  i.dst_reg = dst & 0xf;
  i.src_reg = src & 0xf;
  i.off = off;
  i.imm = imm;
  return i;
}

uint32_t prog_id_of(int prog_fd) {
  bpf_prog_info info{};
  bpf_attr attr{};
  attr.info.bpf_fd = uint32_t(prog_fd);
  attr.info.info_len = sizeof info;
  attr.info.info = uint64_t(uintptr_t(&info));
  if (sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &attr) < 0) return 0;
  return info.id;
}

uint32_t mode_flag(AttachMode m) { return m == AttachMode::kDrv ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE; }

int netlink_set_xdp(int ifindex, int fd, int expected_fd, uint32_t flags, std::string* extack) {
  NlRequest req(RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK, ifindex);
  size_t nest = req.begin_nest(IFLA_XDP);
  req.put_s32(IFLA_XDP_FD, fd);
  if (expected_fd >= 0) req.put_s32(IFLA_XDP_EXPECTED_FD, expected_fd);
  req.put_u32(IFLA_XDP_FLAGS, flags);
  req.end_nest(nest);
  return nl_transact(req, nullptr, extack);
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

}  // namespace

LinkState query_link(const std::string& ifname) {
  NlRequest req(RTM_GETLINK, NLM_F_REQUEST, 0);
  req.put_str(IFLA_IFNAME, ifname);
  uint32_t mask = RTEXT_FILTER_SKIP_STATS;  // we need no statistics: keep the answer small
  req.put_u32(IFLA_EXT_MASK, mask);
  std::vector<uint8_t> reply;
  std::string extack;
  int rc = nl_transact(req, &reply, &extack);
  if (rc == -ENODEV)
    throw PortError(errc::kNotFound, "no network interface named '" + ifname + "' (see `ip link`)", ENODEV);
  if (rc < 0 || reply.empty())
    throw PortError(errc::kIo, "cannot query interface " + ifname + " over rtnetlink: " + errno_text(rc < 0 ? -rc : EIO),
                    rc < 0 ? -rc : EIO);
  nlmsghdr* h = reinterpret_cast<nlmsghdr*>(reply.data());
  ifinfomsg* ifi = static_cast<ifinfomsg*>(NLMSG_DATA(h));
  LinkState ls;
  ls.ifindex = ifi->ifi_index;
  ls.up = ifi->ifi_flags & IFF_UP;
  int len = int(h->nlmsg_len - NLMSG_LENGTH(sizeof(ifinfomsg)));
  for (rtattr* a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
    uint16_t type = a->rta_type & NLA_TYPE_MASK;
    auto u32 = [&] { return RTA_PAYLOAD(a) >= 4 ? *static_cast<uint32_t*>(RTA_DATA(a)) : 0u; };
    switch (type) {
      case IFLA_MTU: ls.mtu = u32(); break;
      case IFLA_NUM_RX_QUEUES: ls.num_rx_queues = u32(); break;
      case IFLA_NUM_TX_QUEUES: ls.num_tx_queues = u32(); break;
      case IFLA_XDP: {
        int nl = int(RTA_PAYLOAD(a));
        for (rtattr* x = static_cast<rtattr*>(RTA_DATA(a)); RTA_OK(x, nl); x = RTA_NEXT(x, nl)) {
          uint16_t xt = x->rta_type & NLA_TYPE_MASK;
          if (xt == IFLA_XDP_ATTACHED && RTA_PAYLOAD(x) >= 1) ls.xdp_attached = *static_cast<uint8_t*>(RTA_DATA(x));
          if ((xt == IFLA_XDP_PROG_ID || xt == IFLA_XDP_DRV_PROG_ID || xt == IFLA_XDP_SKB_PROG_ID ||
               xt == IFLA_XDP_HW_PROG_ID) &&
              RTA_PAYLOAD(x) >= 4 && ls.xdp_prog_id == 0)
            ls.xdp_prog_id = *static_cast<uint32_t*>(RTA_DATA(x));
        }
        break;
      }
      case IFLA_LINKINFO: {
        int nl = int(RTA_PAYLOAD(a));
        for (rtattr* x = static_cast<rtattr*>(RTA_DATA(a)); RTA_OK(x, nl); x = RTA_NEXT(x, nl))
          if ((x->rta_type & NLA_TYPE_MASK) == IFLA_INFO_KIND)
            ls.kind.assign(static_cast<char*>(RTA_DATA(x)), strnlen(static_cast<char*>(RTA_DATA(x)), RTA_PAYLOAD(x)));
        break;
      }
      default: break;
    }
  }
  return ls;
}

QueueCounts queue_counts(const std::string& ifname, const LinkState& ls) {
  QueueCounts q{ls.num_rx_queues ? ls.num_rx_queues : 1, ls.num_tx_queues ? ls.num_tx_queues : 1};
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return q;
  ethtool_channels ch{};
  ch.cmd = ETHTOOL_GCHANNELS;
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
  ifr.ifr_data = reinterpret_cast<char*>(&ch);
  if (::ioctl(fd, SIOCETHTOOL, &ifr) == 0) {
    uint32_t rx = ch.rx_count + ch.combined_count;
    uint32_t tx = ch.tx_count + ch.combined_count;
    if (rx) q.rx = rx;
    if (tx) q.tx = tx;
  }
  ::close(fd);
  return q;
}

void XskProgram::load(uint32_t queues, const std::string& ifname) {
  bpf_attr attr{};
  attr.map_type = BPF_MAP_TYPE_XSKMAP;
  attr.key_size = 4;
  attr.value_size = 4;
  attr.max_entries = queues;
  std::strncpy(attr.map_name, "nmcap_xsks", sizeof attr.map_name - 1);
  int fd = int(sys_bpf(BPF_MAP_CREATE, &attr));
  if (fd < 0) {
    int e = errno;
    if (e == EPERM) throw PortError(errc::kPermission, "af_xdp:" + ifname + ": creating the XSKMAP " + kBpfPrivileges, e);
    throw PortError(errc::kUnsupported,
                    "af_xdp:" + ifname + ": this kernel cannot create an XSKMAP (" + errno_text(e) +
                        "); it needs CONFIG_XDP_SOCKETS, or use af_packet:" + ifname,
                    e);
  }
  map_fd_ = fd;

  // ctx is struct xdp_md { u32 data, data_end, data_meta, ingress_ifindex, rx_queue_index; ... }
  constexpr int16_t kRxQueueIndexOff = 16;
  const bpf_insn prog[] = {
      insn(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_2, BPF_REG_1, kRxQueueIndexOff, 0),  // r2 = ctx->rx_queue_index
      insn(BPF_LD | BPF_DW | BPF_IMM, BPF_REG_1, BPF_PSEUDO_MAP_FD, 0, map_fd_),   // r1 = map (64-bit load,
      insn(0, 0, 0, 0, 0),                                                          //  second half)
      insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_3, 0, 0, XDP_PASS),                  // r3 = XDP_PASS (if no socket)
      insn(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_redirect_map),                      // r0 = redirect_map(r1, r2, r3)
      insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),                                          // return r0
  };
  static const char kLicense[] = "GPL";
  auto load_with_log = [&](char* log, uint32_t log_size) {
    bpf_attr a{};
    a.prog_type = BPF_PROG_TYPE_XDP;
    a.insns = uint64_t(uintptr_t(prog));
    a.insn_cnt = sizeof prog / sizeof prog[0];
    a.license = uint64_t(uintptr_t(kLicense));
    a.expected_attach_type = BPF_XDP;
    std::strncpy(a.prog_name, "nmcap_xsk", sizeof a.prog_name - 1);
    if (log) {
      a.log_level = 1;
      a.log_buf = uint64_t(uintptr_t(log));
      a.log_size = log_size;
    }
    return int(sys_bpf(BPF_PROG_LOAD, &a));
  };
  fd = load_with_log(nullptr, 0);
  if (fd < 0) {
    int e = errno;
    if (e == EPERM)
      throw PortError(errc::kPermission, "af_xdp:" + ifname + ": loading the XDP program " + kBpfPrivileges, e);
    // Load again with the verifier log so the error can say why.
    std::vector<char> log(65536, 0);
    int fd2 = load_with_log(log.data(), uint32_t(log.size()));
    if (fd2 >= 0) {
      fd = fd2;  // a transient failure; carry on
    } else {
      std::string text(log.data());
      // Keep the last non-empty line: the verifier's conclusion.
      while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
      size_t nl = text.rfind('\n');
      std::string last = nl == std::string::npos ? text : text.substr(nl + 1);
      throw PortError(errc::kUnsupported,
                      "af_xdp:" + ifname + ": the kernel refused the XDP program (" + errno_text(e) +
                          (last.empty() ? "" : "; verifier: " + last) + "); use af_packet:" + ifname,
                      e);
    }
  }
  prog_fd_ = fd;
  prog_id_ = prog_id_of(prog_fd_);
}

void XskProgram::attach(int ifindex, const std::string& ifname, AttachMethod method) {
  ifindex_ = ifindex;
  auto busy = [&](int e) {
    std::string id;
    try {
      LinkState ls = query_link(ifname);
      if (ls.xdp_prog_id) id = " (id " + std::to_string(ls.xdp_prog_id) + ")";
    } catch (const PortError&) {
    }
    return PortError(errc::kBusy,
                     "interface " + ifname + " already has an XDP program attached" + id +
                         "; detach it with `ip link set dev " + ifname + " xdp off` or use af_packet:" + ifname,
                     e);
  };
  auto perm = [&](int e) {
    return PortError(errc::kPermission, "af_xdp:" + ifname + ": attaching an XDP program needs CAP_NET_ADMIN (and CAP_BPF)", e);
  };
  auto try_link = [&](AttachMode m) -> int {
    bpf_attr a{};
    a.link_create.prog_fd = uint32_t(prog_fd_);
    a.link_create.target_ifindex = uint32_t(ifindex);
    a.link_create.attach_type = BPF_XDP;
    a.link_create.flags = mode_flag(m);
    int fd = int(sys_bpf(BPF_LINK_CREATE, &a));
    if (fd < 0) return -errno;
    link_fd_ = fd;
    return 0;
  };
  std::string drv_ext, skb_ext;
  auto try_netlink = [&](AttachMode m) -> int {
    std::string* ext = m == AttachMode::kDrv ? &drv_ext : &skb_ext;
    return netlink_set_xdp(ifindex, prog_fd_, -1, XDP_FLAGS_UPDATE_IF_NOEXIST | mode_flag(m), ext);
  };
  auto fatal = [&](int e) { return e == EBUSY || e == EEXIST || e == EPERM; };
  auto raise = [&](int e) -> PortError { return e == EPERM ? perm(e) : busy(e); };

  for (int round = 0; round < 2; ++round) {
    bool link = method == AttachMethod::kLink;
    int drv = link ? try_link(AttachMode::kDrv) : try_netlink(AttachMode::kDrv);
    if (drv == 0) {
      mode_ = AttachMode::kDrv;
    } else {
      if (fatal(-drv)) throw raise(-drv);
      int skb = link ? try_link(AttachMode::kSkb) : try_netlink(AttachMode::kSkb);
      if (skb != 0) {
        if (fatal(-skb)) throw raise(-skb);
        // Kernels before 5.9 have no XDP links: BPF_LINK_CREATE says EINVAL whatever the mode.
        if (link && drv == -EINVAL && skb == -EINVAL) {
          method = AttachMethod::kNetlink;
          continue;
        }
        std::string d = errno_text(-drv) + (drv_ext.empty() ? "" : " (" + drv_ext + ")");
        std::string s = errno_text(-skb) + (skb_ext.empty() ? "" : " (" + skb_ext + ")");
        throw PortError(errc::kUnsupported,
                        "af_xdp:" + ifname + ": cannot attach the XDP program (driver mode: " + d + "; generic mode: " + s +
                            "); use af_packet:" + ifname,
                        -skb);
      }
      mode_ = AttachMode::kSkb;
      drv_refusal_ = errno_text(-drv) + (drv_ext.empty() ? "" : ": " + drv_ext);
    }
    method_ = method;
    attached_ = true;
    return;
  }
}

void XskProgram::set_socket(uint32_t queue, int xsk_fd) {
  bpf_attr a{};
  uint32_t key = queue;
  uint32_t val = uint32_t(xsk_fd);
  a.map_fd = uint32_t(map_fd_);
  a.key = uint64_t(uintptr_t(&key));
  a.value = uint64_t(uintptr_t(&val));
  a.flags = BPF_ANY;
  if (sys_bpf(BPF_MAP_UPDATE_ELEM, &a) < 0) {
    int e = errno;
    throw PortError(errc::kIo, "af_xdp: cannot put the socket of queue " + std::to_string(queue) + " in the XSKMAP: " + errno_text(e), e);
  }
}

void XskProgram::detach() {
  if (attached_ && method_ == AttachMethod::kNetlink) {
    // Remove only our own program: IFLA_XDP_EXPECTED_FD makes the kernel refuse (EEXIST) if
    // someone replaced it meanwhile. ENODEV: the interface is gone, and the program with it.
    std::string ext;
    netlink_set_xdp(ifindex_, -1, prog_fd_, XDP_FLAGS_REPLACE | mode_flag(mode_), &ext);
  }
  // Closing the last fd of a BPF link detaches the program.
  close_fd(link_fd_);
  attached_ = false;
  close_fd(prog_fd_);
  close_fd(map_fd_);
}

}  // namespace nmc::xdp
