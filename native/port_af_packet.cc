// Placeholder until the af_packet backend lands.
#include "port.h"

namespace nmc {
std::unique_ptr<Port> open_af_packet_port(const std::string& ifname, const OpenOptions&) {
  throw PortError(errc::kUnsupported, "the af_packet backend is not built yet (asked for " + ifname + ")");
}
}  // namespace nmc
