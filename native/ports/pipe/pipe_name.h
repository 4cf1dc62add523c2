// Pipe names, as netmap spells them: "NAME{N" is the master end of pipe N of NAME, "NAME}N" the
// slave end.
#pragma once

#include <string>

#include "ring/port.h"

namespace nmc {

struct PipeName {
  std::string base;    // NAME
  std::string number;  // N
  bool master = true;
  std::string text() const { return base + (master ? "{" : "}") + number; }
};

inline bool pipe_name_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '-' || c == '.';
}

// Throws PortError(ERR_PORT_BAD_NAME) with a hint on what a valid name looks like.
inline PipeName parse_pipe_name(const std::string& spec) {
  auto bad = [&](const std::string& why) {
    return PortError(errc::kBadName, "bad pipe name 'pipe:" + spec + "': " + why +
                                         " (use pipe:NAME{N for the master end, pipe:NAME}N for the slave end)");
  };
  size_t at = spec.find_first_of("{}");
  if (at == std::string::npos) throw bad("no '{' or '}'");
  PipeName pn;
  pn.base = spec.substr(0, at);
  pn.master = spec[at] == '{';
  pn.number = spec.substr(at + 1);
  if (pn.base.empty() || pn.base.size() > 64) throw bad("NAME must have 1 to 64 characters");
  for (char c : pn.base)
    if (!pipe_name_char(c)) throw bad("NAME may hold letters, digits, '_', '-' and '.' only");
  if (pn.number.empty() || pn.number.size() > 16) throw bad("N must have 1 to 16 characters");
  for (char c : pn.number)
    if (!pipe_name_char(c)) throw bad("N may hold letters, digits, '_', '-' and '.' only");
  return pn;
}

}  // namespace nmc
