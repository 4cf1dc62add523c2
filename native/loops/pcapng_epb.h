// The one piece of pcapng the native side writes: Enhanced Packet Blocks, in host byte order,
// straight into the capture's output buffers. Everything else (SHB, IDB, ISB) is written by
// src/pcap in TypeScript; test/native/epb.test.ts checks these bytes against its encoder.
#pragma once

#include <cstdint>
#include <cstring>

namespace nmc {

inline uint32_t pad4(uint32_t n) { return (n + 3u) & ~3u; }

// Bytes an EPB with `caplen` bytes of data (and no options) takes.
inline uint32_t epb_size(uint32_t caplen) { return 32u + pad4(caplen); }

// Writes the EPB header; the caller copies the data to out + 28 (possibly from several
// fragments) and then calls epb_finish. `ts_units` is in the interface's if_tsresol units.
inline void epb_begin(uint8_t* out, uint32_t iface, uint64_t ts_units, uint32_t caplen, uint32_t wire_len) {
  uint32_t total = epb_size(caplen);
  uint32_t h[7] = {6u, total, iface, uint32_t(ts_units >> 32), uint32_t(ts_units), caplen, wire_len};
  std::memcpy(out, h, sizeof h);
}

inline uint32_t epb_finish(uint8_t* out, uint32_t caplen) {
  uint32_t total = epb_size(caplen);
  uint32_t padded = pad4(caplen);
  if (padded != caplen) std::memset(out + 28 + caplen, 0, padded - caplen);
  std::memcpy(out + total - 4, &total, 4);
  return total;
}

}  // namespace nmc
