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

// epb_flags bits 0-1: the packet's direction (0 unknown, 1 inbound, 2 outbound). A packet whose
// flags are 0 gets no option at all; otherwise the option list is epb_flags then opt_endofopt,
// as src/pcap's encoder writes it.
inline constexpr uint32_t kEpbFlagsOptionBytes = 12;

inline void store_le16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v);
  p[1] = uint8_t(v >> 8);
}

// Bytes an EPB with `caplen` bytes of data takes (with an epb_flags option when flags != 0).
inline uint32_t epb_size(uint32_t caplen, uint32_t flags = 0) {
  return kEpbHeaderBytes + 4u + pad4(caplen) + (flags ? kEpbFlagsOptionBytes : 0u);
}

// Writes the EPB header; the caller copies the data to out + kEpbHeaderBytes (possibly from
// several fragments) and then calls epb_finish with the same flags. `ts_units` is in the
// interface's if_tsresol units.
// Each field is stored straight into `out`: gathered in an array first, the compiler loaded
// that array back in 16-byte pieces right after its 4-byte stores, a store-forwarding stall on
// every packet.
inline void epb_begin(uint8_t* out, uint32_t iface, uint64_t ts_units, uint32_t caplen, uint32_t wire_len,
                      uint32_t flags = 0) {
  store_le32(out, 6u);
  store_le32(out + 4, epb_size(caplen, flags));
  store_le32(out + 8, iface);
  store_le32(out + 12, uint32_t(ts_units >> 32));
  store_le32(out + 16, uint32_t(ts_units));
  store_le32(out + 20, caplen);
  store_le32(out + 24, wire_len);
}

inline uint32_t epb_finish(uint8_t* out, uint32_t caplen, uint32_t flags = 0) {
  uint32_t total = epb_size(caplen, flags);
  uint32_t padded = pad4(caplen);
  if (padded != caplen) std::memset(out + kEpbHeaderBytes + caplen, 0, padded - caplen);
  if (flags) {
    uint8_t* opt = out + kEpbHeaderBytes + padded;
    store_le16(opt, 2);       // epb_flags
    store_le16(opt + 2, 4);   // 4 bytes
    store_le32(opt + 4, flags);
    store_le32(opt + 8, 0);   // opt_endofopt
  }
  store_le32(out + total - 4, total);
  return total;
}

}  // namespace nmc
