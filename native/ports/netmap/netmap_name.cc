#include "ports/netmap/netmap_name.h"

#include <cstring>
#include <vector>

namespace nmc {
namespace {

constexpr size_t kMaxShortName = nm::kIfNamSiz - 1;  // interface-like names fit IFNAMSIZ with the NUL

const char* const kGeneralHint =
    "use netmap:IF, netmap:IF-N, netmap:IF^, netmap:IF*, netmap:NAME{N, netmap:NAME}N or valeSWITCH:PORT, "
    "optionally followed by /FLAGS and @conf:KEY=VALUE";
const char* const kValeHint = "name VALE ports valeSWITCH:PORT, e.g. vale0:p1";
const char* const kPipeHint = "name netmap pipes NAME{N (master end) or NAME}N (slave end)";
const char* const kCharsHint = "netmap cannot name such ports; use af_packet:IF or af_xdp:IF for such interfaces";
const char* const kSuffixHint = "put flags after '/' and options after '@', e.g. netmap:eth0-1/R@conf:slots=1024";
const char* const kFlagsHint =
    "flags after '/' are x (exclusive), z, t, r (monitors), R (RX rings only) and T (TX rings only)";
const char* const kAtHint = "use @N for a memory region or @conf:KEY=VALUE";
const char* const kConfHint =
    "@conf takes rings, slots, tx-rings, rx-rings, tx-slots, rx-slots, host-rings, host-tx-rings, host-rx-rings, "
    "e.g. @conf:rings=2,slots=1024";

bool ident_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_ident(const std::string& s) {
  for (char c : s)
    if (!ident_char(c)) return false;
  return true;
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Reads decimal digits at s[i...]; saturates so huge numbers stay "out of range".
uint64_t read_number(const std::string& s, size_t& i) {
  uint64_t v = 0;
  while (i < s.size() && is_digit(s[i])) {
    if (v < (uint64_t(1) << 40)) v = v * 10 + uint64_t(s[i] - '0');
    ++i;
  }
  return v;
}

class Parser {
 public:
  explicit Parser(const std::string& name) : s_(name) { n_.text = name; }

  NetmapName run() {
    size_t scan = header();
    scan = register_part(scan);
    if (scan < s_.size()) options(scan);
    if ((n_.flags & nm::kFlagRxRingsOnly) && (n_.flags & nm::kFlagTxRingsOnly))
      throw bad("flags R and T exclude each other", "leave both out to open TX and RX rings");
    return n_;
  }

 private:
  PortError bad(const std::string& why, const char* hint) const {
    return PortError(errc::kBadName, "bad netmap port name '" + s_ + "': " + why + " (" + hint + ")");
  }

  // "netmap:" / "valeSW:", the port name and the pipe suffix. Returns where the modifiers start.
  size_t header() {
    bool vale;
    size_t p;
    if (s_.rfind("netmap", 0) == 0) {
      vale = false;
      p = 6;
    } else if (s_.rfind("vale", 0) == 0) {
      vale = true;
      p = 4;
    } else {
      throw bad("it must start with 'netmap:' or 'vale'", kGeneralHint);
    }
    size_t colon = s_.find(':', p);
    if (colon == std::string::npos) throw bad("missing ':' after the prefix", kGeneralHint);
    if (!vale && colon != p) throw bad("nothing may stand between 'netmap' and ':'", kGeneralHint);
    if (vale) {
      std::string sw = s_.substr(0, colon);
      if (!is_ident(sw.substr(4)))
        throw bad("the VALE switch name '" + sw + "' may hold only letters, digits and '_'", kValeHint);
      if (sw.size() > kMaxShortName)
        throw bad("the VALE switch name '" + sw + "' is longer than 15 characters", kValeHint);
      n_.vale_switch = sw;
    }
    size_t vp = colon + 1;
    size_t scan = vp;
    while (scan < s_.size() && !std::strchr("-*^/@", s_[scan])) ++scan;
    size_t pipesep = vp;
    while (pipesep < scan && s_[pipesep] != '{' && s_[pipesep] != '}') ++pipesep;

    n_.port = s_.substr(vp, pipesep - vp);
    if (n_.port.empty()) throw bad("the port name is empty", kGeneralHint);
    if (!is_ident(n_.port))
      throw bad("the port name '" + n_.port + "' has characters other than letters, digits and '_'", kCharsHint);
    if (n_.port.size() > kMaxShortName)
      throw bad("the port name '" + n_.port + "' is longer than 15 characters",
                "interface and VALE port names fit IFNAMSIZ");
    if (pipesep != scan) {
      n_.is_pipe = true;
      n_.pipe_master = s_[pipesep] == '{';
      n_.pipe_id = s_.substr(pipesep + 1, scan - pipesep - 1);
      if (n_.pipe_id.empty())
        throw bad(std::string("the pipe number after '") + s_[pipesep] + "' is empty", kPipeHint);
      if (!is_ident(n_.pipe_id))
        throw bad("the pipe identifier '" + n_.pipe_id + "' may hold only letters, digits and '_'", kPipeHint);
    }
    n_.kernel_name = vale ? s_.substr(0, scan) : s_.substr(vp, scan - vp);
    if (n_.kernel_name.size() >= nm::kReqIfNamSiz)
      throw bad("the name '" + n_.kernel_name + "' is longer than 63 characters", kGeneralHint);
    n_.kind = vale ? NetmapKind::kVale : n_.is_pipe ? NetmapKind::kPipe : NetmapKind::kNic;
    return scan;
  }

  // The ring selection, flags and memory region: libnetmap's nmreq_register_decode() states.
  // Returns where the options ("@name...") start, or the end of the string.
  size_t register_part(size_t scan) {
    enum { kStart, kRingSuffixOk, kGetNum, kFlags, kFlagsOk, kMemId, kOneSw } st = kStart;
    char num_after = '-';
    while (scan < s_.size()) {
      char c = s_[scan];
      switch (st) {
        case kStart:
          switch (c) {
            case '^': n_.mode = nm::kRegSw; st = kOneSw; break;
            case '*': n_.mode = nm::kRegNicSw; st = kRingSuffixOk; break;
            case '-': n_.mode = nm::kRegOneNic; st = kGetNum; num_after = '-'; break;
            case '/': st = kFlags; break;
            case '@': st = kMemId; break;
            default: throw bad(std::string("unexpected '") + c + "'", kSuffixHint);
          }
          ++scan;
          break;
        case kRingSuffixOk:
          if (c == '/') st = kFlags;
          else if (c == '@') st = kMemId;
          else throw bad(std::string("unexpected '") + c + "' after the ring selection", kSuffixHint);
          ++scan;
          break;
        case kGetNum: {
          if (!is_digit(c)) throw expected_ring_number(num_after);
          uint64_t v = read_number(s_, scan);
          if (v >= nm::kRingMask)
            throw bad("ring number " + std::to_string(v) + " is out of range (0 to 4094)", kGeneralHint);
          n_.ringid = uint16_t(v);
          st = kRingSuffixOk;
          break;
        }
        case kFlags:
        case kFlagsOk:
          switch (c) {
            case '@': st = kMemId; ++scan; continue;
            case 'x': n_.flags |= nm::kFlagExclusive; break;
            case 'z': n_.flags |= nm::kFlagZcopyMon; break;
            case 't': n_.flags |= nm::kFlagMonitorTx; break;
            case 'r': n_.flags |= nm::kFlagMonitorRx; break;
            case 'R': n_.flags |= nm::kFlagRxRingsOnly; break;
            case 'T': n_.flags |= nm::kFlagTxRingsOnly; break;
            default: throw bad(std::string("unknown flag '") + c + "'", kFlagsHint);
          }
          ++scan;
          st = kFlagsOk;
          break;
        case kMemId: {
          if (!is_digit(c)) return scan - 1;  // "@name": the options start at that '@'
          uint64_t v = read_number(s_, scan);
          if (v == 0) throw bad("memory region @0 is invalid (regions start at 1)", kAtHint);
          if (v > 0xffff) throw bad("memory region @" + std::to_string(v) + " is out of range (1 to 65535)", kAtHint);
          if (n_.mem_id && n_.mem_id != v)
            throw bad("two memory regions (@" + std::to_string(n_.mem_id) + " and @" + std::to_string(v) + ")", kAtHint);
          n_.mem_id = uint16_t(v);
          st = kRingSuffixOk;
          break;
        }
        case kOneSw:
          if (is_digit(c)) {
            n_.mode = nm::kRegOneSw;
            st = kGetNum;
            num_after = '^';
          } else {
            st = kRingSuffixOk;
          }
          break;
      }
    }
    if (st == kGetNum) throw expected_ring_number(num_after);
    if (st == kFlags) throw bad("no flags after '/'", kFlagsHint);
    if (st == kMemId) throw bad("nothing follows '@'", kAtHint);
    return scan;
  }

  PortError expected_ring_number(char after) const {
    if (after == '-')
      return bad("expected a ring number after '-'",
                 "netmap:IF-N opens NIC ring pair N; interface names with '-' cannot be named through netmap, "
                 "use af_packet:IF or af_xdp:IF");
    return bad(std::string("expected a ring number after '") + after + "'", kGeneralHint);
  }

  // "@opt1@opt2...", each "name", "name=value" or "name:key=value,key=value".
  void options(size_t scan) {
    while (scan < s_.size()) {
      ++scan;  // the '@'
      size_t end = s_.find('@', scan);
      if (end == std::string::npos) end = s_.size();
      if (end == scan) throw bad("empty option after '@'", kConfHint);
      option(s_.substr(scan, end - scan));
      scan = end;
    }
  }

  void option(const std::string& opt) {
    size_t d = opt.find_first_of(":=");
    std::string prefix = opt.substr(0, d);
    if (prefix == "share" || prefix == "extmem" || prefix == "offset")
      throw PortError(errc::kUnsupported, "netmap port name '" + s_ + "': option '@" + prefix +
                                              "' is not supported by nmcap (remove it from the name)");
    if (prefix != "conf") throw bad("unknown option '@" + prefix + "'", kConfHint);
    if (d == std::string::npos || opt[d] == '=') throw bad("option '@conf' needs KEY=VALUE pairs after ':'", kConfHint);
    conf(opt.substr(d + 1));
  }

  // Keys may be spelled with '-' or '_'. The specific keys win over rings/host-rings/slots,
  // whatever their order, as in libnetmap.
  void conf(const std::string& body) {
    static const char* const keys[] = {"rings",         "host_rings",    "slots",    "tx_rings", "rx_rings",
                                       "host_tx_rings", "host_rx_rings", "tx_slots", "rx_slots"};
    constexpr size_t kKeys = sizeof keys / sizeof keys[0];
    bool set[kKeys] = {};
    uint64_t val[kKeys] = {};
    size_t i = 0;
    while (i < body.size()) {
      size_t end = body.find(',', i);
      if (end == std::string::npos) end = body.size();
      std::string item = body.substr(i, end - i);
      size_t eq = item.find('=');
      std::string key = item.substr(0, eq);
      for (char& c : key)
        if (c == '-') c = '_';
      size_t k = 0;
      while (k < kKeys && key != keys[k]) ++k;
      if (k == kKeys) throw bad("unknown @conf key '" + key + "'", kConfHint);
      if (set[k]) throw bad("@conf key '" + key + "' is given twice", kConfHint);
      std::string value = eq == std::string::npos ? "" : item.substr(eq + 1);
      if (value.empty()) throw bad("@conf key '" + key + "' needs a value", kConfHint);
      size_t j = 0;
      uint64_t v = read_number(value, j);
      if (j != value.size()) throw bad("@conf value '" + value + "' for '" + key + "' is not a number", kConfHint);
      bool slots = key.find("slots") != std::string::npos;
      uint64_t max = slots ? 0xffffffffull : 0xffffull;
      if (v > max)
        throw bad("@conf value " + std::to_string(v) + " for '" + key + "' is out of range (0 to " +
                      std::to_string(max) + ")",
                  kConfHint);
      set[k] = true;
      val[k] = v;
      i = end + 1;
      if (end == body.size()) break;
      if (i == body.size()) throw bad("unknown @conf key ''", kConfHint);  // trailing ','
    }
    if (set[0]) n_.tx_rings = n_.rx_rings = uint16_t(val[0]);
    if (set[1]) n_.host_tx_rings = n_.host_rx_rings = uint16_t(val[1]);
    if (set[2]) n_.tx_slots = n_.rx_slots = uint32_t(val[2]);
    if (set[3]) n_.tx_rings = uint16_t(val[3]);
    if (set[4]) n_.rx_rings = uint16_t(val[4]);
    if (set[5]) n_.host_tx_rings = uint16_t(val[5]);
    if (set[6]) n_.host_rx_rings = uint16_t(val[6]);
    if (set[7]) n_.tx_slots = uint32_t(val[7]);
    if (set[8]) n_.rx_slots = uint32_t(val[8]);
  }

  const std::string& s_;
  NetmapName n_;
};

}  // namespace

bool is_netmap_name(const std::string& name) {
  if (name.rfind("netmap:", 0) == 0) return true;
  if (name.rfind("vale", 0) != 0) return false;
  size_t colon = name.find(':');
  return colon != std::string::npos && is_ident(name.substr(4, colon - 4));
}

NetmapName parse_netmap_name(const std::string& name) { return Parser(name).run(); }

NetmapRegisterRequest make_register_request(const NetmapName& n, const OpenOptions& opts) {
  auto bad = [&](const std::string& why) {
    return PortError(errc::kBadName, "bad netmap port name '" + n.text + "': " + why);
  };
  NetmapRegisterRequest rq;
  std::memset(&rq, 0, sizeof rq);
  rq.hdr.nr_version = nm::kApi;
  rq.hdr.nr_reqtype = nm::kReqRegister;
  std::memcpy(rq.hdr.nr_name, n.kernel_name.data(), n.kernel_name.size());  // < 64: checked by the parser

  nm::nmreq_register& r = rq.reg;
  r.nr_mode = n.mode;
  r.nr_ringid = n.ringid;
  r.nr_flags = n.flags;
  r.nr_mem_id = n.mem_id;
  r.nr_tx_slots = n.tx_slots;
  r.nr_rx_slots = n.rx_slots;
  r.nr_tx_rings = n.tx_rings;
  r.nr_rx_rings = n.rx_rings;
  r.nr_host_tx_rings = n.host_tx_rings;
  r.nr_host_rx_rings = n.host_rx_rings;

  const bool monitor = n.flags & (nm::kFlagMonitorTx | nm::kFlagMonitorRx | nm::kFlagZcopyMon);
  const bool needs_tx = opts.direction != Direction::kRx;
  const bool needs_rx = opts.direction != Direction::kTx;
  if (monitor && needs_tx && !needs_rx)
    throw bad("monitor ports (/r, /t, /z) only receive, they cannot transmit (open the monitored port itself)");
  if ((n.flags & nm::kFlagRxRingsOnly) && needs_tx && !needs_rx)
    throw bad("/R opens RX rings only, but TX rings are needed here (drop the R flag)");
  if ((n.flags & nm::kFlagTxRingsOnly) && needs_rx && !needs_tx)
    throw bad("/T opens TX rings only, but RX rings are needed here (drop the T flag)");
  if (!(n.flags & (nm::kFlagRxRingsOnly | nm::kFlagTxRingsOnly))) {
    if (opts.direction == Direction::kRx) r.nr_flags |= nm::kFlagRxRingsOnly;
    if (opts.direction == Direction::kTx) r.nr_flags |= nm::kFlagTxRingsOnly;
  }

  if (opts.queue >= 0) {
    if (opts.queue >= int(nm::kRingMask))
      throw bad("queue " + std::to_string(opts.queue) + " is out of range (0 to 4094)");
    if (n.mode == nm::kRegAllNic) {
      r.nr_mode = nm::kRegOneNic;
      r.nr_ringid = uint16_t(opts.queue);
    } else if (!(n.mode == nm::kRegOneNic && n.ringid == opts.queue)) {
      throw bad(std::string("the name already selects its rings (") + netmap_mode_name(n.mode) +
                "), so a queue cannot be added (drop the queue option or the ring suffix)");
    }
  }

  // Ports this open creates (VALE ephemeral ports, pipes) take their ring sizes from the request;
  // @conf in the name has the last word.
  if (n.kind != NetmapKind::kNic) {
    if (!r.nr_tx_slots) r.nr_tx_slots = opts.tx_slots;
    if (!r.nr_rx_slots) r.nr_rx_slots = opts.rx_slots;
  }
  return rq;
}

const char* netmap_mode_name(uint32_t mode) {
  switch (mode) {
    case nm::kRegDefault: return "DEFAULT";
    case nm::kRegAllNic: return "ALL_NIC";
    case nm::kRegSw: return "SW";
    case nm::kRegNicSw: return "NIC_SW";
    case nm::kRegOneNic: return "ONE_NIC";
    case nm::kRegPipeMaster: return "PIPE_MASTER";
    case nm::kRegPipeSlave: return "PIPE_SLAVE";
    case nm::kRegNull: return "NULL";
    case nm::kRegOneSw: return "ONE_SW";
    default: return "UNKNOWN";
  }
}

const char* netmap_kind_name(NetmapKind kind) {
  switch (kind) {
    case NetmapKind::kPipe: return "pipe";
    case NetmapKind::kVale: return "vale";
    default: return "nic";
  }
}

std::string describe_netmap_name(const NetmapName& n) {
  std::string d;
  if (n.kind == NetmapKind::kVale)
    d = "port " + n.port + " of VALE switch " + n.vale_switch;
  else if (n.kind == NetmapKind::kPipe)
    d = "pipe";
  else
    d = "interface " + n.port;
  if (n.is_pipe)
    d += std::string(n.kind == NetmapKind::kVale ? ", pipe " : " ") + (n.pipe_master ? "master" : "slave") +
         " end " + n.pipe_id + (n.kind == NetmapKind::kPipe ? " of " + n.port : "");
  switch (n.mode) {
    case nm::kRegSw: d += ", host rings"; break;
    case nm::kRegOneSw: d += ", host ring pair " + std::to_string(n.ringid); break;
    case nm::kRegNicSw: d += ", NIC and host rings"; break;
    case nm::kRegOneNic: d += ", NIC ring pair " + std::to_string(n.ringid); break;
    default: break;
  }
  if (n.flags & nm::kFlagZcopyMon) d += ", zero-copy monitor";
  else if (n.flags & (nm::kFlagMonitorTx | nm::kFlagMonitorRx))
    d += std::string(", monitor of ") +
         ((n.flags & nm::kFlagMonitorTx) && (n.flags & nm::kFlagMonitorRx) ? "TX and RX"
          : (n.flags & nm::kFlagMonitorTx)                                   ? "TX"
                                                                             : "RX") +
         " rings";
  if (n.flags & nm::kFlagExclusive) d += ", exclusive";
  return "netmap " + d;
}

}  // namespace nmc
