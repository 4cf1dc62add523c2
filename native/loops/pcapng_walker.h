// The native walker of pcapng blocks, for streamed replay: the counterpart of PcapWalker
// (loops/trace_walker.h) for pcapng files. src/pcap (TypeScript) stays the reference for the
// format; test/replay/native-pcapng-walker.test.ts runs both over the same fixtures, truncations
// and mutated files and compares them packet by packet, so every check, offset and text below
// follows src/pcap/parser.ts, pcapng-blocks.ts and pcapng-options.ts word for word.
// Packets: EPB, SPB (no timestamp) and the obsolete PB. Every other block is checked as JS checks
// it (lengths, options) and skipped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "loops/trace_walker.h"

namespace nmc {

inline constexpr uint32_t kPcapngShb = 0x0a0d0d0a, kPcapngByteOrderMagic = 0x1a2b3c4d;
// The "no timestamp" nanoseconds of an SPB packet (src/pcap/batch.ts NO_TIMESTAMP).
inline constexpr uint32_t kTraceNoTimestamp = 0xffffffffu;

class PcapngWalker {
 public:
  // kBlock: a block without a packet was consumed (`used` bytes). kLinkChange: the next packet's
  // link type differs from the one asked for; nothing was consumed.
  enum class Step { kRecord, kBlock, kNeed, kError, kLinkChange };

  // True when the file starts with the SHB block type (the first 4 bytes).
  static bool is_pcapng(const uint8_t* p, size_t avail);

  // The block at p (file offset `at`). On kRecord, r and `link_type` describe the packet;
  // `want_link` >= 0 asks to stop (kLinkChange) before a packet of another link type.
  Step next(const uint8_t* p, size_t avail, uint64_t at, TraceRecord& r, uint16_t& link_type, size_t& used, int want_link);

  // As PcapWalker::end_of_input: an error before the first SHB is read, else a warning when
  // anything was left.
  TraceEnd end_of_input(uint64_t at, size_t left, uint64_t file_len, TraceProblem& out) const {
    return trace_end_of_input(started_, at, left, need_, file_len, out);
  }

  void limit_block(uint32_t max_block) { max_block_ = max_block; }
  size_t need() const { return need_; }
  bool started() const { return started_; }
  const TraceProblem& error() const { return error_; }
  // Warnings raised by the last next() (option lengths), in order; the caller clears them.
  std::vector<TraceProblem>& warnings() { return warnings_; }

 private:
  struct Iface {
    uint16_t link_type;
    uint32_t snap;
    bool binary;       // if_tsresol 2^-exp, else 10^-exp
    uint32_t exp;
    int64_t offset_s;  // if_tsoffset
  };
  // In the header so they inline: out of line, the shared object called them through its PLT,
  // several times per record.
  uint32_t u32(const uint8_t* p) const {
    uint32_t v;
    std::memcpy(&v, p, 4);  // x86/arm64 Linux: little-endian hosts
    return le_ ? v : __builtin_bswap32(v);
  }
  uint16_t u16(const uint8_t* p) const { return le_ ? uint16_t(p[0] | (p[1] << 8)) : uint16_t((p[0] << 8) | p[1]); }
  Step fail(const char* code, uint64_t offset, std::string reason);
  Step too_short(uint64_t at, const char* name, uint32_t len, uint32_t min);
  Step unknown_iface(uint64_t at, const char* name, uint32_t id);
  Step cap_beyond(uint64_t at, const char* name, uint32_t cap, uint32_t room);
  void bad_length_warning(uint64_t at, const char* block, const std::string& opt, uint32_t n, const char* expected);
  // Visits the options in [s, e) of the block at p; false (error set) on an option overrunning it.
  template <class Visit>
  bool walk_options(const uint8_t* p, int64_t s, int64_t e, uint64_t at, const char* block, Visit&& visit);
  void timestamp(const Iface& f, uint32_t hi, uint32_t lo, TraceRecord& r) const;
  Step packet_options(const uint8_t* p, uint32_t start, uint32_t len, uint64_t at, bool pb);
  Step idb(const uint8_t* p, uint32_t len, uint64_t at);
  Step nrb(const uint8_t* p, uint32_t len, uint64_t at);

  bool started_ = false, le_ = true;
  uint32_t max_block_ = kTraceMaxBlockLength;
  size_t need_ = 0;
  std::vector<Iface> ifaces_;
  TraceProblem error_;
  std::vector<TraceProblem> warnings_;
};

}  // namespace nmc
