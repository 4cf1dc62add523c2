// The one piece of pcapng the native side writes: Enhanced Packet Blocks, in host byte order,
// straight into the capture's output buffers. Everything else (SHB, IDB, ISB) is written by
// src/pcap in TypeScript; test/native/epb.test.ts checks these bytes against its encoder.
#pragma once

#include <cstdint>
#include <cstring>

namespace nmc {

inline uint32_t pad4(uint32_t n) { return (n + 3u) & ~3u; }

// epb_flags bits 0-1: the packet's direction (0 unknown, 1 inbound, 2 outbound). A packet whose
// flags are 0 gets no option at all; otherwise the option list is epb_flags then opt_endofopt,
// as src/pcap's encoder writes it.
inline constexpr uint32_t kEpbFlagsOptionBytes = 12;

// Bytes an EPB with `caplen` bytes of data takes (with an epb_flags option when flags != 0).
inline uint32_t epb_size(uint32_t caplen, uint32_t flags = 0) {
  return 32u + pad4(caplen) + (flags ? kEpbFlagsOptionBytes : 0u);
}

// Writes the EPB header; the caller copies the data to out + 28 (possibly from several
// fragments) and then calls epb_finish with the same flags. `ts_units` is in the interface's
// if_tsresol units.
inline void epb_begin(uint8_t* out, uint32_t iface, uint64_t ts_units, uint32_t caplen, uint32_t wire_len, uint32_t flags = 0) {
  uint32_t total = epb_size(caplen, flags);
  uint32_t h[7] = {6u, total, iface, uint32_t(ts_units >> 32), uint32_t(ts_units), caplen, wire_len};
  std::memcpy(out, h, sizeof h);
}

inline uint32_t epb_finish(uint8_t* out, uint32_t caplen, uint32_t flags = 0) {
  uint32_t total = epb_size(caplen, flags);
  uint32_t padded = pad4(caplen);
  if (padded != caplen) std::memset(out + 28 + caplen, 0, padded - caplen);
  if (flags) {
    const uint16_t head[2] = {2, 4};  // epb_flags, 4 bytes
    const uint32_t tail[2] = {flags, 0u};  // the value, then opt_endofopt
    std::memcpy(out + 28 + padded, head, sizeof head);
    std::memcpy(out + 32 + padded, tail, sizeof tail);
  }
  std::memcpy(out + total - 4, &total, 4);
  return total;
}

}  // namespace nmc
