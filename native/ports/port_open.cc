// open_port(): dispatch an explicit port name to its backend.
#include <string>

#include "ring/port.h"

namespace nmc {

namespace {
bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }
}  // namespace

std::unique_ptr<Port> open_port(const std::string& name, const OpenOptions& opts) {
  if (starts_with(name, "pipe:")) return open_pipe_port(name.substr(5), opts);
  if (starts_with(name, "netmap:") || starts_with(name, "vale")) return open_netmap_port(name, opts);
  if (starts_with(name, "af_packet:")) return open_af_packet_port(name.substr(10), opts);
  if (starts_with(name, "af_xdp:")) return open_af_xdp_port(name.substr(7), opts);
  throw PortError(errc::kBadName,
                  "unknown port '" + name +
                      "': use pipe:NAME{N, pipe:NAME}N, netmap:IF, valeX:Y, af_packet:IF or af_xdp:IF");
}

}  // namespace nmc
