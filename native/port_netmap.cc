// Placeholder until the netmap backend lands.
#include "port.h"

namespace nmc {
std::unique_ptr<Port> open_netmap_port(const std::string& spec, const OpenOptions&) {
  throw PortError(errc::kUnsupported, "the netmap backend is not built yet (asked for " + spec + ")");
}
}  // namespace nmc
