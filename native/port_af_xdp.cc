// Placeholder until the af_xdp backend lands.
#include "port.h"

namespace nmc {
std::unique_ptr<Port> open_af_xdp_port(const std::string& ifname, const OpenOptions&) {
  throw PortError(errc::kUnsupported, "the af_xdp backend is not built yet (asked for " + ifname + ")");
}
}  // namespace nmc
