// The one piece of pcapng the native side writes: Enhanced Packet Blocks, straight into the
// capture's output buffers. Everything else (SHB, IDB, ISB) is written by src/pcap in TypeScript.
//
// Byte order: a pcapng section is in the byte order its SHB declares, and every block of it must
// agree. These EPBs are always little-endian (explicit stores, whatever the host), and the addon
// exports that choice as `epbByteOrder` ('le') so the TypeScript side writes its SHB to match.
// test/native/epb.test.ts checks these bytes against src/pcap's little-endian encoder.
#pragma once

#include <cstdint>
#include <cstring>

namespace nmc {

inline constexpr const char* kEpbByteOrder = "le";

// Bytes before the packet data: block type, total length, interface, timestamp (2 words),
// captured length, original length.
inline constexpr uint32_t kEpbHeaderBytes = 28;

inline void store_le32(uint8_t* p, uint32_t v) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap32(v);
#elif !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "unknown host byte order: pcapng_epb.h needs __BYTE_ORDER__"
#endif
  std::memcpy(p, &v, 4);
}

inline uint32_t pad4(uint32_t n) { return (n + 3u) & ~3u; }

// Bytes an EPB with `caplen` bytes of data (and no options) takes.
inline uint32_t epb_size(uint32_t caplen) { return kEpbHeaderBytes + 4u + pad4(caplen); }

// Writes the EPB header; the caller copies the data to out + kEpbHeaderBytes (possibly from
// several fragments) and then calls epb_finish. `ts_units` is in the interface's if_tsresol units.
inline void epb_begin(uint8_t* out, uint32_t iface, uint64_t ts_units, uint32_t caplen, uint32_t wire_len) {
  const uint32_t h[7] = {6u, epb_size(caplen), iface, uint32_t(ts_units >> 32), uint32_t(ts_units), caplen, wire_len};
  for (int i = 0; i < 7; ++i) store_le32(out + 4 * i, h[i]);
}

inline uint32_t epb_finish(uint8_t* out, uint32_t caplen) {
  uint32_t total = epb_size(caplen);
  uint32_t padded = pad4(caplen);
  if (padded != caplen) std::memset(out + kEpbHeaderBytes + caplen, 0, padded - caplen);
  store_le32(out + total - 4, total);
  return total;
}

}  // namespace nmc
