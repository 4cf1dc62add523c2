#include "loops/pcapng_walker.h"

#include <cstring>

namespace nmc {

namespace {

// Block types and option codes (as in src/pcap/constants.ts).
constexpr uint32_t kIdb = 1, kPb = 2, kSpb = 3, kNrb = 4, kIsb = 5, kEpb = 6, kDsb = 10, kCustom = 0xbad,
                   kCustomNoCopy = 0x40000bad;
constexpr uint16_t kOptEnd = 0, kOptComment = 1;

uint32_t raw32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;  // x86/arm64 Linux: little-endian hosts
}

std::string str(uint64_t v) { return std::to_string(v); }

}  // namespace

bool PcapngWalker::is_pcapng(const uint8_t* p, size_t avail) { return avail >= 4 && raw32(p) == kPcapngShb; }


PcapngWalker::Step PcapngWalker::fail(const char* code, uint64_t offset, std::string reason) {
  error_.code = code;
  error_.offset = offset;
  error_.reason = std::move(reason);
  return Step::kError;
}

PcapngWalker::Step PcapngWalker::too_short(uint64_t at, const char* name, uint32_t len, uint32_t min) {
  return fail("ERR_PCAP_BAD_BLOCK_LENGTH", at,
              std::string(name) + " block length " + str(len) + " is shorter than its fixed fields (" + str(min) + " bytes)");
}

PcapngWalker::Step PcapngWalker::unknown_iface(uint64_t at, const char* name, uint32_t id) {
  const size_t known = ifaces_.size();
  return fail("ERR_PCAP_UNKNOWN_INTERFACE", at,
              std::string(name) + " names interface " + str(id) + " but its section describes " +
                  (known == 0 ? std::string("no interface") : "only " + str(known) + " (0.." + str(known - 1) + ")") + " so far");
}

PcapngWalker::Step PcapngWalker::cap_beyond(uint64_t at, const char* name, uint32_t cap, uint32_t room) {
  return fail("ERR_PCAP_BAD_CAPLEN", at,
              std::string(name) + " captured length " + str(cap) + " exceeds the " + str(room) + " bytes of packet data its block holds");
}

void PcapngWalker::bad_length_warning(uint64_t at, const char* block, const std::string& opt, uint32_t n, const char* expected) {
  warnings_.push_back(TraceProblem{"WARN_PCAP_BAD_OPTION", at,
                                   std::string(block) + " option " + opt + " has length " + str(n) + ", expected " + expected + "; skipped"});
}

template <class Visit>
bool PcapngWalker::walk_options(const uint8_t* p, int64_t s, int64_t e, uint64_t at, const char* block, Visit&& visit) {
  while (e - s >= 4) {
    const uint16_t code = u16(p + s), n = u16(p + s + 2);
    if (code == kOptEnd) return true;
    const int64_t v = s + 4;
    if (n > e - v) {
      fail("ERR_PCAP_BAD_OPTION", at + s,
           std::string(block) + " option " + str(code) + " claims " + str(n) + " bytes but only " + str(e - v) + " remain in the block");
      return false;
    }
    if (!visit(code, v, uint32_t(n))) return false;
    s = v + ((n + 3) & ~3);
  }
  return true;
}

// Exact, as src/pcap/timestamps.ts: ns = units scaled (floored below 1 ns) + if_tsoffset seconds.
void PcapngWalker::timestamp(const Iface& f, uint32_t hi, uint32_t lo, TraceRecord& r) const {
  using u128 = unsigned __int128;
  using s128 = __int128;
  const u128 units = (u128(hi) << 32) | lo;
  u128 ns;
  if (f.binary) {
    ns = (units * 1000000000u) >> f.exp;
  } else if (f.exp <= 9) {
    static constexpr uint64_t kPow10[10] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000};
    ns = units * kPow10[9 - f.exp];
  } else if (f.exp - 9 > 38) {
    ns = 0;  // 10^39 and beyond exceed any u64 count
  } else {
    u128 d = 1;
    for (uint32_t i = 9; i < f.exp; ++i) d *= 10;
    ns = units / d;
  }
  const s128 t = s128(ns) + s128(f.offset_s) * 1000000000;
  if (t >= 0 && t <= s128(UINT64_MAX)) {
    // Every stamp of this era: a 64-bit split by a constant is a multiply, where the 128-bit
    // one is a library call per packet (about half of this walker's cost per record).
    const uint64_t u = uint64_t(t);
    r.sec = double(u / 1000000000u);
    r.nsec = uint32_t(u % 1000000000u);
    return;
  }
  s128 sec = t / 1000000000, rem = t % 1000000000;
  if (rem < 0) sec -= 1, rem += 1000000000;
  r.sec = double(sec);
  r.nsec = uint32_t(rem);
}

PcapngWalker::Step PcapngWalker::packet_options(const uint8_t* p, uint32_t start, uint32_t len, uint64_t at, bool pb) {
  if (start >= len - 4) return Step::kRecord;
  const char* name = pb ? "PB" : "EPB";
  bool ok = walk_options(p, start, len - 4, at, name, [&](uint16_t code, int64_t s, uint32_t n) {
    const uint64_t o = at + s - 4;
    if (code == kOptComment) return true;
    if (pb && code != 2 && code != 3) return true;
    switch (code) {
      case 2: if (n != 4) bad_length_warning(o, name, "flags", n, "4"); break;
      case 3: if (n < 1) bad_length_warning(o, name, "hash", n, "at least 1"); break;
      case 4: if (n != 8) bad_length_warning(o, name, "epb_dropcount", n, "8"); break;
      case 5: if (n != 8) bad_length_warning(o, name, "epb_packetid", n, "8"); break;
      case 6: if (n != 4) bad_length_warning(o, name, "epb_queue", n, "4"); break;
      case 7: if (n < 1) bad_length_warning(o, name, "epb_verdict", n, "at least 1"); break;
      case 8: if (n != 8) bad_length_warning(o, name, "epb_processid_threadid", n, "8"); break;
      default: break;
    }
    return true;
  });
  return ok ? Step::kRecord : Step::kError;
}

PcapngWalker::Step PcapngWalker::idb(const uint8_t* p, uint32_t len, uint64_t at) {
  if (len < 20) return too_short(at, "IDB", len, 20);
  Iface f{u16(p + 8), u32(p + 12), false, 6, 0};
  struct Fixed {
    uint16_t code;
    const char* name;
    uint32_t len;
  };
  static constexpr Fixed kFixed[] = {{4, "if_IPv4addr", 8}, {5, "if_IPv6addr", 17}, {6, "if_MACaddr", 6}, {7, "if_EUIaddr", 8},
                                     {8, "if_speed", 8},    {16, "if_txspeed", 8},  {17, "if_rxspeed", 8}, {10, "if_tzone", 4},
                                     {13, "if_fcslen", 1}};
  bool ok = walk_options(p, 16, len - 4, at, "IDB", [&](uint16_t code, int64_t s, uint32_t n) {
    const uint64_t o = at + s - 4;
    if (code == 9) {  // if_tsresol: changes every timestamp, so a wrong length refuses the file
      if (n != 1) return fail("ERR_PCAP_BAD_OPTION", o, "IDB option if_tsresol has length " + str(n) + ", expected 1"), false;
      f.binary = (p[s] & 0x80) != 0;
      f.exp = p[s] & 0x7f;
      return true;
    }
    if (code == 14) {  // if_tsoffset
      if (n != 8) return fail("ERR_PCAP_BAD_OPTION", o, "IDB option if_tsoffset has length " + str(n) + ", expected 8"), false;
      const uint64_t a = u32(p + s), b = u32(p + s + 4);
      f.offset_s = int64_t(le_ ? (b << 32 | a) : (a << 32 | b));
      return true;
    }
    if (code == 11) {
      if (n < 1) bad_length_warning(o, "IDB", "if_filter", n, "at least 1");
      return true;
    }
    for (const Fixed& x : kFixed)
      if (x.code == code && n != x.len) bad_length_warning(o, "IDB", x.name, n, std::to_string(x.len).c_str());
    return true;
  });
  if (!ok) return Step::kError;
  ifaces_.push_back(f);
  return Step::kBlock;
}

PcapngWalker::Step PcapngWalker::nrb(const uint8_t* p, uint32_t len, uint64_t at) {
  const int64_t e = len - 4;
  int64_t s = 8, opts = e;
  while (e - s >= 4) {
    const uint16_t type = u16(p + s), n = u16(p + s + 2);
    if (type == 0) {
      opts = s + 4;
      break;
    }
    const int64_t v = s + 4;
    if (n > e - v)
      return fail("ERR_PCAP_BAD_BLOCK", at + s,
                  "NRB record of type " + str(type) + " claims " + str(n) + " bytes but only " + str(e - v) + " remain in the block");
    const uint32_t addr = type == 1 ? 4 : type == 2 ? 16 : type == 3 ? 6 : type == 4 ? 8 : 0;
    if (addr > 0 && n < addr) bad_length_warning(at + s, "NRB", "record type " + str(type), n, ("at least " + str(addr)).c_str());
    s = v + ((n + 3) & ~3);
  }
  bool ok = walk_options(p, opts, e, at, "NRB", [&](uint16_t code, int64_t v, uint32_t n) {
    if (code == 3 && n != 4) bad_length_warning(at + v - 4, "NRB", "ns_dnsIP4addr", n, "4");
    if (code == 4 && n != 16) bad_length_warning(at + v - 4, "NRB", "ns_dnsIP6addr", n, "16");
    return true;
  });
  return ok ? Step::kBlock : Step::kError;
}

PcapngWalker::Step PcapngWalker::next(const uint8_t* p, size_t avail, uint64_t at, TraceRecord& r, uint16_t& link_type,
                                      size_t& used, int want_link) {
  if (avail < 12) {
    need_ = 12;
    return Step::kNeed;
  }
  bool le = le_;
  const uint32_t type = le ? raw32(p) : __builtin_bswap32(raw32(p));
  if (type == kPcapngShb) {
    const uint32_t bom = raw32(p + 8);
    if (bom == kPcapngByteOrderMagic) le = true;
    else if (bom == __builtin_bswap32(kPcapngByteOrderMagic)) le = false;
    else
      return fail("ERR_PCAP_BAD_MAGIC", at + 8,
                  "Section Header Block byte-order magic " + trace_hex32(__builtin_bswap32(bom)) + " is neither 0x1a2b3c4d nor 0x4d3c2b1a");
  }
  const uint32_t len = le ? raw32(p + 4) : __builtin_bswap32(raw32(p + 4));
  if (len < 12 || (len & 3) != 0 || len > max_block_) {
    const std::string why = len < 12 ? "is below the 12-byte minimum"
                            : (len & 3) != 0 ? "is not a multiple of 4"
                                             : "exceeds the " + str(max_block_) + "-byte limit";
    return fail("ERR_PCAP_BAD_BLOCK_LENGTH", at + 4, "block length " + str(len) + " " + why + " (block type " + trace_hex32(type) + ")");
  }
  if (avail < len) {
    need_ = len;
    return Step::kNeed;
  }
  const uint32_t trail = le ? raw32(p + len - 4) : __builtin_bswap32(raw32(p + len - 4));
  if (trail != len)
    return fail("ERR_PCAP_BAD_BLOCK_LENGTH", at + len - 4,
                "trailing block length " + str(trail) + " disagrees with the leading length " + str(len) + " (block type " + trace_hex32(type) + ")");
  used = len;
  need_ = 0;
  switch (type) {
    case kEpb:
    case kPb: {
      const bool pb = type == kPb;
      const char* name = pb ? "PB" : "EPB";
      if (len < 32) return too_short(at, name, len, 32);
      const uint32_t id = pb ? u16(p + 8) : u32(p + 8);
      if (id >= ifaces_.size()) return unknown_iface(at + 8, name, id);
      const uint32_t cap = u32(p + 20);
      if (cap > len - 32) return cap_beyond(at + 20, name, cap, len - 32);
      link_type = ifaces_[id].link_type;
      if (want_link >= 0 && link_type != want_link) return Step::kLinkChange;
      timestamp(ifaces_[id], u32(p + 12), u32(p + 16), r);
      r.off = 28;
      r.caplen = cap;
      r.origlen = u32(p + 24);
      return packet_options(p, 28 + ((cap + 3) & ~3u), len, at, pb);
    }
    case kSpb: {
      if (len < 16) return too_short(at, "SPB", len, 16);
      if (ifaces_.empty()) return unknown_iface(at, "SPB", 0);
      const uint32_t orig = u32(p + 8), snap = ifaces_[0].snap;
      // SPB rule: captured length = min(SnapLen of interface 0, Original Length); SnapLen 0 = no limit.
      const uint32_t cap = snap == 0 ? orig : std::min(orig, snap);
      if (cap > len - 16) return cap_beyond(at + 8, "SPB", cap, len - 16);
      link_type = ifaces_[0].link_type;
      if (want_link >= 0 && link_type != want_link) return Step::kLinkChange;
      r.off = 12;
      r.caplen = cap;
      r.origlen = orig;
      r.sec = 0;
      r.nsec = kTraceNoTimestamp;
      return Step::kRecord;
    }
    case kPcapngShb: {
      if (len < 28) return too_short(at, "SHB", len, 28);
      le_ = le;
      const uint16_t major = u16(p + 12), minor = u16(p + 14);
      // Readers MUST treat minor 2 as 0; libpcap accepts exactly 1.0 and 1.2, and so does src/pcap.
      if (major != 1 || (minor != 0 && minor != 2))
        return fail("ERR_PCAP_UNSUPPORTED_VERSION", at + 12,
                    "unsupported pcapng version " + str(major) + "." + str(minor) + " (this reader knows 1.0)");
      if (!walk_options(p, 24, len - 4, at, "SHB", [](uint16_t, int64_t, uint32_t) { return true; })) return Step::kError;
      ifaces_.clear();  // a new section describes its own interfaces
      started_ = true;
      return Step::kBlock;
    }
    case kIdb:
      return idb(p, len, at);
    case kIsb: {
      if (len < 24) return too_short(at, "ISB", len, 24);
      const uint32_t id = u32(p + 8);
      if (id >= ifaces_.size()) return unknown_iface(at + 8, "ISB", id);
      bool ok = walk_options(p, 20, len - 4, at, "ISB", [&](uint16_t code, int64_t s, uint32_t n) {
        if (code >= 2 && code <= 8 && n != 8) bad_length_warning(at + s - 4, "ISB", "option " + str(code), n, "8");
        return true;
      });
      return ok ? Step::kBlock : Step::kError;
    }
    case kNrb:
      return nrb(p, len, at);
    case kDsb: {
      if (len < 20) return too_short(at, "DSB", len, 20);
      const uint32_t n = u32(p + 12);
      if (n > len - 20)
        return fail("ERR_PCAP_BAD_BLOCK", at + 12, "DSB secrets length " + str(n) + " exceeds the " + str(len - 20) + " bytes left in the block");
      bool ok = walk_options(p, 16 + ((int64_t(n) + 3) & ~int64_t(3)), len - 4, at, "DSB", [](uint16_t, int64_t, uint32_t) { return true; });
      return ok ? Step::kBlock : Step::kError;
    }
    case kCustom:
    case kCustomNoCopy:
      if (len < 16) return too_short(at, "Custom", len, 16);
      return Step::kBlock;
    default:
      return Step::kBlock;  // unknown blocks are skipped
  }
}

}  // namespace nmc
