// netmap port names, parsed the way libnetmap's nmport_parse() does, and the NETMAP_REQ_REGISTER
// request they turn into. Pure functions: no kernel, no files.
//
//   netmap:IF             all NIC ring pairs of interface IF
//   netmap:IF-N           NIC ring pair N
//   netmap:IF^  IF^N      all host rings / host ring pair N
//   netmap:IF*            NIC and host rings
//   netmap:NAME{N  }N     master / slave end of netmap pipe N of NAME
//   valeSW:PORT           port PORT of VALE switch valeSW (SW may be empty: "vale:p0")
// followed by optional /FLAGS (x exclusive, z t r monitors, R RX rings only, T TX rings only),
// @N (memory region N) and options @conf:rings=,slots=,tx-slots=,rx-slots=,tx-rings=,rx-rings=,
// host-rings=,host-tx-rings=,host-rx-rings=.
//
// JS reaches it through names.parse (native/js/js_names.cc); there is no TypeScript copy.
#pragma once

#include <cstdint>
#include <string>

#include "ports/netmap/netmap_abi.h"
#include "ring/port.h"

namespace nmc {

enum class NetmapKind : uint8_t { kNic, kPipe, kVale };

struct NetmapName {
  std::string text;         // as given, e.g. "netmap:eth0-1/R"
  NetmapKind kind = NetmapKind::kNic;
  std::string kernel_name;  // nmreq_header.nr_name: "eth0", "x{1", "vale0:p1"
  std::string port;         // interface, pipe parent or VALE port name (before '{' / '}')
  std::string vale_switch;  // "vale0" for VALE ports, else empty
  bool is_pipe = false;     // '{' or '}' in the name (netmap pipes, also on VALE ports)
  bool pipe_master = false;
  std::string pipe_id;      // what follows '{' or '}'
  uint32_t mode = nm::kRegAllNic;
  uint16_t ringid = 0;
  uint64_t flags = 0;       // nm::kFlag* from "/..."
  uint16_t mem_id = 0;      // "@N"; 0 = let the kernel choose
  // @conf values; 0 = not given (the kernel's default)
  uint32_t tx_slots = 0;
  uint32_t rx_slots = 0;
  uint16_t tx_rings = 0;
  uint16_t rx_rings = 0;
  uint16_t host_tx_rings = 0;
  uint16_t host_rx_rings = 0;
};

// Is this name meant for netmap ("netmap:..." or "valeSW:...")?
bool is_netmap_name(const std::string& name);

// Throws PortError(ERR_PORT_BAD_NAME) saying what is wrong and how to write it, or
// PortError(ERR_PORT_UNSUPPORTED) for libnetmap options nmcap does not implement.
NetmapName parse_netmap_name(const std::string& name);

// The register request for a parsed name and the caller's options: direction becomes /R or /T
// unless the name chose itself, queue becomes a ring pair, tx_slots / rx_slots become @conf values
// for VALE ports and pipes (the ports an open creates). nmreq_header.nr_body is left 0: the
// caller points it at `reg` right before the ioctl. Throws PortError(ERR_PORT_BAD_NAME) when the
// name and the options contradict each other.
struct NetmapRegisterRequest {
  nm::nmreq_header hdr;
  nm::nmreq_register reg;
};
NetmapRegisterRequest make_register_request(const NetmapName& name, const OpenOptions& opts);

const char* netmap_mode_name(uint32_t mode);  // "ALL_NIC", "ONE_NIC", ...
const char* netmap_kind_name(NetmapKind kind);  // "nic", "pipe", "vale"
std::string describe_netmap_name(const NetmapName& n);  // human-readable, for PortInfo.description

}  // namespace nmc
