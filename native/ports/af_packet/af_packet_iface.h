// What the af_packet backend needs to know about a network interface before it opens sockets on
// it: whether the name is valid, whether it exists and is up, its MTU, device type (ARPHRD_*),
// driver and number of RX queues. Everything is asked through ioctls on a socket, so the answers
// come from the caller's network namespace (sysfs may belong to another one).
#pragma once

#include <dirent.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "ring/port.h"

namespace nmc {

// Linux's dev_valid_name(): 1 to IFNAMSIZ-1 bytes, not "." or "..", no '/', ':' or whitespace.
inline bool af_packet_valid_ifname(const std::string& n) {
  if (n.empty() || n.size() >= IFNAMSIZ || n == "." || n == "..") return false;
  for (unsigned char c : n)
    if (c == '/' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == 0)
      return false;
  return true;
}

// The pcap LINKTYPE of what a SOCK_RAW packet socket delivers for a device type, or 0 when we
// cannot say (the open is then refused rather than writing files nobody can decode).
inline uint16_t af_packet_link_type(uint16_t arphrd) {
  switch (arphrd) {
    case ARPHRD_ETHER:
    case ARPHRD_LOOPBACK:  // Linux's loopback carries Ethernet headers (zero MACs)
      return 1;            // LINKTYPE_ETHERNET
    case ARPHRD_NONE:      // tun devices in TUN mode, wireguard
    case ARPHRD_RAWIP:
    case ARPHRD_TUNNEL:    // ipip
    case ARPHRD_TUNNEL6:   // ip6tnl
    case ARPHRD_SIT:
      return 101;  // LINKTYPE_RAW: the packet starts with the IPv4 or IPv6 header
    case ARPHRD_IEEE80211:
      return 105;  // LINKTYPE_IEEE802_11
    case ARPHRD_IEEE80211_RADIOTAP:
      return 127;  // LINKTYPE_IEEE802_11_RADIOTAP
    default:
      return 0;
  }
}

// Bytes of link-layer header a SOCK_RAW sender supplies (dev->hard_header_len for the types we
// transmit on): 14 for Ethernet framing, 0 for devices whose frames start at the IP header.
inline uint32_t af_packet_ll_header_len(uint16_t arphrd) {
  return (arphrd == ARPHRD_ETHER || arphrd == ARPHRD_LOOPBACK) ? 14 : 0;
}

struct AfPacketIface {
  std::string name;
  int ifindex = 0;
  unsigned flags = 0;  // IFF_*
  uint32_t mtu = 0;
  uint16_t arphrd = 0;
  uint32_t rx_queues = 1;
  std::string driver;  // from ETHTOOL_GDRVINFO, empty if the device has none
};

class AfPacketFd {
 public:
  explicit AfPacketFd(int fd = -1) : fd_(fd) {}
  ~AfPacketFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  AfPacketFd(const AfPacketFd&) = delete;
  AfPacketFd& operator=(const AfPacketFd&) = delete;
  int get() const { return fd_; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }

 private:
  int fd_;
};

// A socket for interface ioctls (any family works; AF_UNIX needs no privilege and no IP stack).
inline int af_packet_ioctl_socket() {
  int s = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  return s;
}

inline bool af_packet_ifreq(int s, unsigned long req, const std::string& name, ifreq* ifr) {
  std::memset(ifr, 0, sizeof *ifr);
  std::memcpy(ifr->ifr_name, name.data(), name.size());
  return ::ioctl(s, req, ifr) == 0;
}

// The name of interface `ifindex` now, or "" if no interface has that index any more.
inline std::string af_packet_ifname_of(int ifindex) {
  AfPacketFd s(af_packet_ioctl_socket());
  if (s.get() < 0) return "";
  ifreq ifr{};
  ifr.ifr_ifindex = ifindex;
  if (::ioctl(s.get(), SIOCGIFNAME, &ifr) != 0) return "";
  return std::string(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ));
}

// Current IFF_* flags of interface `name`; false if it cannot be asked.
inline bool af_packet_ifflags(const std::string& name, unsigned* flags) {
  AfPacketFd s(af_packet_ioctl_socket());
  ifreq ifr;
  if (s.get() < 0 || !af_packet_ifreq(s.get(), SIOCGIFFLAGS, name, &ifr)) return false;
  *flags = unsigned(uint16_t(ifr.ifr_flags));
  return true;
}

// Number of RX queues the stack uses (real_num_rx_queues). sysfs lists exactly those as rx-N, but
// only trust it if it describes the same device (our namespace's); else ask ethtool for channels.
inline uint32_t af_packet_rx_queue_count(int s, const AfPacketIface& it) {
  std::string dir = "/sys/class/net/" + it.name;
  if (FILE* f = std::fopen((dir + "/ifindex").c_str(), "re")) {
    int idx = -1;
    bool same = std::fscanf(f, "%d", &idx) == 1 && idx == it.ifindex;
    std::fclose(f);
    if (same) {
      if (DIR* d = ::opendir((dir + "/queues").c_str())) {
        uint32_t n = 0;
        while (dirent* e = ::readdir(d))
          if (std::strncmp(e->d_name, "rx-", 3) == 0) ++n;
        ::closedir(d);
        if (n > 0) return n;
      }
    }
  }
  ethtool_channels ch{};
  ch.cmd = ETHTOOL_GCHANNELS;
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, it.name.data(), it.name.size());
  ifr.ifr_data = reinterpret_cast<char*>(&ch);
  if (::ioctl(s, SIOCETHTOOL, &ifr) == 0) {
    uint32_t n = ch.combined_count + ch.rx_count;
    if (n > 0) return n;
  }
  return 1;
}

// Everything about `name` the backend needs. Throws PortError: kBadName for names Linux cannot
// have, kNotFound when no such interface exists in this namespace.
inline AfPacketIface af_packet_probe(const std::string& name) {
  if (!af_packet_valid_ifname(name))
    throw PortError(errc::kBadName, "'" + name +
                                        "' is not a valid interface name: 1 to 15 characters, no '/', ':' or "
                                        "whitespace (see `ip link`)");
  AfPacketFd s(af_packet_ioctl_socket());
  if (s.get() < 0) throw PortError(errc::kIo, std::string("af_packet: socket: ") + std::strerror(errno), errno);
  AfPacketIface it;
  it.name = name;
  ifreq ifr;
  if (!af_packet_ifreq(s.get(), SIOCGIFINDEX, name, &ifr)) {
    int e = errno;
    if (e == ENODEV) throw PortError(errc::kNotFound, "no interface '" + name + "' (see `ip link`)", e);
    throw PortError(errc::kIo, "af_packet: cannot look up interface '" + name + "': " + std::strerror(e), e);
  }
  it.ifindex = ifr.ifr_ifindex;
  if (!af_packet_ifreq(s.get(), SIOCGIFFLAGS, name, &ifr))
    throw PortError(errc::kNotFound, "no interface '" + name + "' (see `ip link`)", errno);
  it.flags = unsigned(uint16_t(ifr.ifr_flags));
  if (!af_packet_ifreq(s.get(), SIOCGIFMTU, name, &ifr))
    throw PortError(errc::kNotFound, "no interface '" + name + "' (see `ip link`)", errno);
  it.mtu = uint32_t(ifr.ifr_mtu);
  if (!af_packet_ifreq(s.get(), SIOCGIFHWADDR, name, &ifr))
    throw PortError(errc::kNotFound, "no interface '" + name + "' (see `ip link`)", errno);
  it.arphrd = ifr.ifr_hwaddr.sa_family;

  ethtool_drvinfo di{};
  di.cmd = ETHTOOL_GDRVINFO;
  std::memset(&ifr, 0, sizeof ifr);
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  ifr.ifr_data = reinterpret_cast<char*>(&di);
  if (::ioctl(s.get(), SIOCETHTOOL, &ifr) == 0) it.driver.assign(di.driver, strnlen(di.driver, sizeof di.driver));

  it.rx_queues = af_packet_rx_queue_count(s.get(), it);
  return it;
}

}  // namespace nmc
