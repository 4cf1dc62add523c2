#include "loops/trace_walker.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace nmc {

namespace {

uint32_t load_le32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;  // x86/arm64 Linux: little-endian hosts
}

uint32_t load_be32(const uint8_t* p) { return __builtin_bswap32(load_le32(p)); }

uint16_t load16(const uint8_t* p, bool le) {
  return le ? uint16_t(p[0] | (p[1] << 8)) : uint16_t((p[0] << 8) | p[1]);
}

}  // namespace

std::string trace_hex32(uint32_t v) {
  char s[16];
  std::snprintf(s, sizeof s, "0x%08x", v);
  return s;
}

uint32_t PcapWalker::u32(const uint8_t* p) const { return le_ ? load_le32(p) : load_be32(p); }

PcapWalker::Step PcapWalker::fail(const char* code, uint64_t offset, std::string reason) {
  error_.code = code;
  error_.offset = offset;
  error_.reason = std::move(reason);
  return Step::kError;
}

PcapWalker::Step PcapWalker::header(const uint8_t* p, size_t avail) {
  if (avail < 4) {
    need_ = 4;
    return Step::kNeed;
  }
  const uint32_t magic = load_le32(p);
  if (magic == kPcapMagicUs || magic == kPcapMagicNs) le_ = true;
  else if (magic == kPcapMagicUsSwapped || magic == kPcapMagicNsSwapped) le_ = false;
  else return fail("ERR_PCAP_BAD_MAGIC", 0, "not a pcap or pcapng file: it starts with " + trace_hex32(load_be32(p)));
  nano_ = magic == kPcapMagicNs || magic == kPcapMagicNsSwapped;
  if (avail < kPcapFileHeaderLen) {
    need_ = kPcapFileHeaderLen;
    return Step::kNeed;
  }
  const uint16_t major = load16(p + 4, le_), minor = load16(p + 6, le_);
  if (major != 2 || minor > 4)
    return fail("ERR_PCAP_UNSUPPORTED_VERSION", 4,
                "unsupported pcap version " + std::to_string(major) + "." + std::to_string(minor) + " (this reader knows 2.4)");
  const uint32_t snap = u32(p + 16), lt = u32(p + 20);
  if (lt & (kPcapLtReservedMask | kPcapLtRBit))
    return fail("ERR_PCAP_BAD_LINKTYPE", 20, "reserved bits set in the pcap link-type word " + trace_hex32(lt));
  link_type_ = uint16_t(lt & kPcapLtLinktypeMask);
  snap_ = snap;
  cap_limit_ = std::min(kTraceMaxBlockLength, std::max(snap, kPcapReasonableCaplen));
  started_ = true;
  need_ = 0;
  return Step::kRecord;
}

PcapWalker::Step PcapWalker::caplen_error(uint64_t at, uint32_t incl) {
  return fail("ERR_PCAP_BAD_CAPLEN", at + 8,
              "pcap record claims a captured length of " + std::to_string(incl) + " bytes, more than the " +
                  std::to_string(cap_limit_) + " this file allows");
}

// The first record whose fraction was carried into the seconds: the file's one warning about it.
void PcapWalker::timestamp_carried(uint64_t at) {
  if (warned_ts_) return;
  warned_ts_ = warning_pending_ = true;
  warning_ = {"WARN_PCAP_BAD_TIMESTAMP", at,
              "pcap record timestamp fraction is 1 s or more; carried into the seconds (first of possibly several)"};
}

TraceEnd trace_end_of_input(bool started, uint64_t at, size_t left, size_t need, uint64_t file_len, TraceProblem& out) {
  if (!started) {
    out.code = "ERR_PCAP_TRUNCATED";
    out.offset = at;
    out.reason = file_len == 0 ? "the file is empty"
                               : "the file ends inside its header (" + std::to_string(file_len) + " bytes in all)";
    return TraceEnd::kError;
  }
  if (left == 0) return TraceEnd::kClean;
  out.code = "WARN_PCAP_TRUNCATED";
  out.offset = at;
  out.reason = "the last record is cut short (" + std::to_string(left) + " of " + std::to_string(need) +
               " bytes present at byte offset " + std::to_string(at) + "); every complete packet before it was read";
  return TraceEnd::kWarning;
}

}  // namespace nmc
