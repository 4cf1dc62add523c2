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

// A record as the pcapng walker hands it on.
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

// Where PcapWalker::walk() puts each record: a batch's five arrays.
struct TraceRecordArrays {
  uint32_t *off, *caplen, *origlen;  // off: of the packet bytes, in the window given to walk()
  double* sec;
  uint32_t* nsec;
};

class PcapWalker {
 public:
  enum class Step { kRecord, kNeed, kError, kFull };

  // The file header, from the first bytes of the file (avail of them). kNeed: `need()` bytes first.
  Step header(const uint8_t* p, size_t avail);

  // Walks the records of buf[pos, end) (buf[0] at file offset `base`) into the arrays from index n
  // on, moving pos and n past each, until `capacity` records are there (kFull), the next one is
  // incomplete (kNeed: need() bytes from pos) or refused (kError: error(), pos at the record).
  // Its loop runs once per packet on the reader thread and in the API's reads: the byte order and
  // the resolution are decided here, once per call (a loop for each), and the rare cases (a record
  // cut short, a captured length the file does not allow, a fraction of 1 s or more) leave the
  // loop (pcap_record_run) to be handled here.
  Step walk(const uint8_t* buf, size_t& pos, size_t end, uint64_t base, const TraceRecordArrays& out, uint32_t& n,
            uint32_t capacity) {
    if (le_)
      return nano_ ? walk_order<false, true>(buf, pos, end, base, out, n, capacity)
                   : walk_order<false, false>(buf, pos, end, base, out, n, capacity);
    return nano_ ? walk_order<true, true>(buf, pos, end, base, out, n, capacity)
                 : walk_order<true, false>(buf, pos, end, base, out, n, capacity);
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
  // The timestamp warning, once per file: true when walk() has just raised it.
  bool take_warning(TraceProblem& out) {
    if (!warning_pending_) return false;
    warning_pending_ = false;
    out = warning_;
    return true;
  }

 private:
  template <bool kSwapped, bool kNano>
  Step walk_order(const uint8_t* buf, size_t& pos, size_t end, uint64_t base, const TraceRecordArrays& out, uint32_t& n,
                  uint32_t capacity);
  Step fail(const char* code, uint64_t offset, std::string reason);
  [[gnu::cold, gnu::noinline]] Step caplen_error(uint64_t at, uint32_t incl);
  [[gnu::cold, gnu::noinline]] void timestamp_carried(uint64_t at);
  uint32_t u32(const uint8_t* p) const;

  bool started_ = false, le_ = true, nano_ = false;
  uint16_t link_type_ = 1;
  uint32_t snap_ = 0, cap_limit_ = 0;
  size_t need_ = 0;
  TraceProblem error_;
  bool warned_ts_ = false, warning_pending_ = false;
  TraceProblem warning_;
};

// A pcap header field, in the file's byte order (little-endian hosts: x86, arm64 Linux).
template <bool kSwapped>
inline uint32_t pcap_field(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return kSwapped ? __builtin_bswap32(v) : v;
}

// Why pcap_record_run() stopped: at the record at pos, which it did not take.
enum class PcapRunStop { kFull, kShortHeader, kShortRecord, kBadCaplen, kCarry };

// The hot loop: takes the records of buf[pos, end) into the arrays from index n on while they are
// plain (complete, allowed, a fraction under 1 s). Everything it needs is in registers: the arrays
// are biased to end at `capacity` so one negative index counts both the records and the room left.
template <bool kSwapped, bool kNano>
PcapRunStop pcap_record_run(const uint8_t* buf, size_t& pos_io, size_t end, uint32_t limit, const TraceRecordArrays& out,
                            uint32_t& n_io, uint32_t capacity) {
  constexpr uint32_t per_sec = kNano ? 1000000000u : 1000000u, frac_to_ns = kNano ? 1 : 1000;
  uint32_t *const off = out.off + capacity, *const caplen = out.caplen + capacity, *const origlen = out.origlen + capacity,
                 *const nsec = out.nsec + capacity;
  double* const sec = out.sec + capacity;
  size_t pos = pos_io;
  ptrdiff_t i = ptrdiff_t(n_io) - ptrdiff_t(capacity);
  PcapRunStop stop = PcapRunStop::kFull;
  for (; i < 0; ++i) {
    if (end - pos < kPcapRecordHeaderLen) {
      stop = PcapRunStop::kShortHeader;
      break;
    }
    const uint8_t* h = buf + pos;
    const uint32_t incl = pcap_field<kSwapped>(h + 8), frac = pcap_field<kSwapped>(h + 4);
    if (__builtin_expect(incl > limit, 0)) {
      stop = PcapRunStop::kBadCaplen;
      break;
    }
    if (end - pos - kPcapRecordHeaderLen < incl) {
      stop = PcapRunStop::kShortRecord;
      break;
    }
    if (__builtin_expect(frac >= per_sec, 0)) {
      stop = PcapRunStop::kCarry;
      break;
    }
    off[i] = uint32_t(pos + kPcapRecordHeaderLen);
    caplen[i] = incl;
    origlen[i] = pcap_field<kSwapped>(h + 12);
    sec[i] = double(pcap_field<kSwapped>(h));
    nsec[i] = frac * frac_to_ns;
    pos += kPcapRecordHeaderLen + size_t(incl);
  }
  pos_io = pos;
  n_io = uint32_t(ptrdiff_t(capacity) + i);
  return stop;
}

template <bool kSwapped, bool kNano>
PcapWalker::Step PcapWalker::walk_order(const uint8_t* buf, size_t& pos, size_t end, uint64_t base, const TraceRecordArrays& out,
                                        uint32_t& n, uint32_t capacity) {
  constexpr uint32_t per_sec = kNano ? 1000000000u : 1000000u, frac_to_ns = kNano ? 1 : 1000;
  for (;;) {
    const PcapRunStop stop = pcap_record_run<kSwapped, kNano>(buf, pos, end, cap_limit_, out, n, capacity);
    const uint8_t* h = buf + pos;
    switch (stop) {
      case PcapRunStop::kFull:
        return Step::kFull;
      case PcapRunStop::kShortHeader:
        need_ = kPcapRecordHeaderLen;
        return Step::kNeed;
      case PcapRunStop::kShortRecord:
        need_ = kPcapRecordHeaderLen + size_t(pcap_field<kSwapped>(h + 8));
        return Step::kNeed;
      case PcapRunStop::kBadCaplen:
        return caplen_error(base + pos, pcap_field<kSwapped>(h + 8));
      case PcapRunStop::kCarry:  // a fraction of 1 s or more: carried into the seconds, with a warning once per file
        break;
    }
    const uint32_t frac = pcap_field<kSwapped>(h + 4), incl = pcap_field<kSwapped>(h + 8);
    out.off[n] = uint32_t(pos + kPcapRecordHeaderLen);
    out.caplen[n] = incl;
    out.origlen[n] = pcap_field<kSwapped>(h + 12);
    out.sec[n] = double(uint64_t(pcap_field<kSwapped>(h)) + frac / per_sec);
    out.nsec[n] = frac % per_sec * frac_to_ns;
    timestamp_carried(base + pos);
    pos += kPcapRecordHeaderLen + size_t(incl);
    ++n;
  }
}

}  // namespace nmc
