// The native walker of classic pcap records, for streamed replay: the replay's reader thread walks
// the file with it so no packet passes through JS. src/pcap (TypeScript) stays the reference for
// the format; test/replay/native-walker.test.ts runs both walkers over the same fixtures and
// mutated files and compares them packet by packet, errors and warnings included, so the error
// texts and limits below follow src/pcap/parser.ts and src/pcap/reader.ts word for word.
#pragma once

#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <cstring>
#include <string>

namespace nmc {

// Facts of the classic pcap format (as in src/pcap/constants.ts).
inline constexpr uint32_t kPcapMagicUs = 0xa1b2c3d4, kPcapMagicNs = 0xa1b23c4d;
inline constexpr uint32_t kPcapMagicUsSwapped = 0xd4c3b2a1, kPcapMagicNsSwapped = 0x4d3cb2a1;
inline constexpr size_t kPcapFileHeaderLen = 24, kPcapRecordHeaderLen = 16;
inline constexpr uint32_t kPcapLtLinktypeMask = 0x0000ffff, kPcapLtReservedMask = 0x03ff0000, kPcapLtRBit = 0x08000000;
// The largest record a classic pcap file may hold (beyond its snaplen), and the reader's block limit.
inline constexpr uint32_t kPcapReasonableCaplen = 262144, kTraceMaxBlockLength = 64u << 20;

struct TraceRecord {
  size_t off;        // of the packet bytes, in the window given to next()
  uint32_t caplen, origlen;
  double sec;
  uint32_t nsec;
};

// A format error (stops the file) or a warning (the file goes on), with its stable code.
struct TraceProblem {
  const char* code = "";
  uint64_t offset = 0;  // byte offset in the file
  std::string reason;
};

// "0x%08x", as src/pcap writes magics and block types in its texts.
std::string trace_hex32(uint32_t v);

// How a file's input ends (src/pcap/reader.ts endOfInput), for both walkers.
enum class TraceEnd { kClean, kWarning, kError };
// An error before the file's header (or first SHB) was read, else a warning when `left` bytes of an
// incomplete record (of `need` bytes) remain at file offset `at`.
TraceEnd trace_end_of_input(bool started, uint64_t at, size_t left, size_t need, uint64_t file_len, TraceProblem& out);

class PcapWalker {
 public:
  enum class Step { kRecord, kNeed, kError };

  // The file header, from the first bytes of the file (avail of them). kNeed: `need()` bytes first.
  Step header(const uint8_t* p, size_t avail);
  // The record at p (file offset `at`): kRecord fills r (r.off relative to p) and `used`.
  // Inline: it runs once per packet on the reader thread.
  Step next(const uint8_t* p, size_t avail, uint64_t at, TraceRecord& r, size_t& used) {
    if (avail < kPcapRecordHeaderLen) {
      need_ = kPcapRecordHeaderLen;
      return Step::kNeed;
    }
    uint32_t h[4];
    std::memcpy(h, p, sizeof h);
    if (!le_) for (uint32_t& v : h) v = __builtin_bswap32(v);  // little-endian hosts (x86, arm64 Linux)
    const uint32_t incl = h[2];
    if (incl > cap_limit_) return caplen_error(at, incl);
    if (avail - kPcapRecordHeaderLen < incl) {
      need_ = kPcapRecordHeaderLen + incl;
      return Step::kNeed;
    }
    r.sec = h[0];
    uint32_t frac = h[1];
    if (frac >= per_sec_) frac = carry_fraction(at, r.sec, frac);
    r.off = kPcapRecordHeaderLen;
    r.caplen = incl;
    r.origlen = h[3];
    r.nsec = frac * frac_to_ns_;
    used = kPcapRecordHeaderLen + incl;
    return Step::kRecord;
  }

  // The input ended with `left` bytes of an incomplete header or record at file offset `at`:
  // an error before the header, else a warning when anything was left.
  using End = TraceEnd;
  End end_of_input(uint64_t at, size_t left, uint64_t file_len, TraceProblem& out) const {
    return trace_end_of_input(started_, at, left, need_, file_len, out);
  }

  // Lowers the largest record accepted to `max_block` (the JS reader's maxBlockLength option).
  void limit_block(uint32_t max_block) { cap_limit_ = std::min(max_block, std::max(snap_, kPcapReasonableCaplen)); }

  size_t need() const { return need_; }
  bool started() const { return started_; }
  uint16_t link_type() const { return link_type_; }
  const TraceProblem& error() const { return error_; }
  // The timestamp warning, once per file: true when next() has just raised it.
  bool take_warning(TraceProblem& out) {
    if (!warning_pending_) return false;
    warning_pending_ = false;
    out = warning_;
    return true;
  }

 private:
  Step fail(const char* code, uint64_t offset, std::string reason);
  Step caplen_error(uint64_t at, uint32_t incl);
  uint32_t carry_fraction(uint64_t at, double& sec, uint32_t frac);
  uint32_t u32(const uint8_t* p) const;

  bool started_ = false, le_ = true, nano_ = false;
  uint32_t per_sec_ = 1000000, frac_to_ns_ = 1000;
  uint16_t link_type_ = 1;
  uint32_t snap_ = 0, cap_limit_ = 0;
  size_t need_ = 0;
  TraceProblem error_;
  bool warned_ts_ = false, warning_pending_ = false;
  TraceProblem warning_;
};

}  // namespace nmc
