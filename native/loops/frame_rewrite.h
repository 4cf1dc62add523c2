// Rewriting on the way to an Ethernet port, on the native path (no per-packet JS): --dmac/--smac,
// --vlan-push/--vlan-pop, and records whose link type is not Ethernet given an Ethernet header
// where that is well defined (raw IPv4/IPv6, BSD and OpenBSD loopback with an IPv4/IPv6 family).
// Anything else is refused (counted as failed), never sent as garbage.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "ring/walkers.h"

namespace nmc {

// LINKTYPE_ values (tcpdump.org registry).
enum : uint16_t {
  kLinkNull = 0,       // 4-byte address family, in the byte order of the host that wrote it
  kLinkEthernet = 1,
  kLinkRaw = 101,      // raw IP, version from the first nibble
  kLinkLoop = 108,     // 4-byte address family, network byte order
  kLinkIpv4 = 228,
  kLinkIpv6 = 229,
};

struct MacRewrite {
  bool set_dmac = false, set_smac = false;
  uint8_t dmac[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};  // for headers we make: broadcast
  uint8_t smac[6] = {0, 0, 0, 0, 0, 0};
  bool any() const { return set_dmac || set_smac; }
  // Writes the MACs asked for over an Ethernet frame's first 12 bytes (at least 14 are there).
  void write_over(uint8_t* frame) const {
    if (set_dmac) std::memcpy(frame, dmac, 6);
    if (set_smac) std::memcpy(frame + 6, smac, 6);
  }
};

// --vlan-push: an 802.1Q tag put after the MACs; --vlan-pop: the outer tag taken off.
struct VlanEdit {
  enum Op : uint8_t { kNone, kPush, kPop };
  Op op = kNone;
  uint16_t tci = 0;  // kPush: PCP (3 bits), DEI 0, VID (12 bits)
  static constexpr uint32_t kTag = 4;
  // An outer 802.1Q or 802.1ad tag followed by an ethertype: what kPop takes off.
  static bool tagged(const uint8_t* frame, uint32_t len) {
    return len >= 18 && ((frame[12] == 0x81 && frame[13] == 0x00) || (frame[12] == 0x88 && frame[13] == 0xa8));
  }
  // The pushed tag's 4 bytes (TPID 0x8100, then the TCI) at `at`.
  void write_tag(uint8_t* at) const {
    at[0] = 0x81;
    at[1] = 0x00;
    at[2] = uint8_t(tci >> 8);
    at[3] = uint8_t(tci);
  }
};

// What is done to every Ethernet frame on its way out (--dmac/--smac, --vlan-push/--vlan-pop),
// written straight into its slot on the fast path, into scratch on the general one.
struct EthernetEdits {
  MacRewrite mac;
  VlanEdit vlan;
  bool any() const { return mac.any() || vlan.op != VlanEdit::kNone; }
  // The most a frame grows (the port's frame limit counts it).
  uint32_t growth() const { return vlan.op == VlanEdit::kPush ? VlanEdit::kTag : 0; }
  // Length of record [src, len) as it leaves (len >= 14).
  uint32_t length(const uint8_t* src, uint32_t len) const {
    if (vlan.op == VlanEdit::kPush) return len + VlanEdit::kTag;
    if (vlan.op == VlanEdit::kPop && VlanEdit::tagged(src, len)) return len - VlanEdit::kTag;
    return len;
  }
  // Writes record [src, len) (Ethernet, len >= 14) as it leaves into dst (room for len + growth()):
  // the tag pushed or popped, then the MACs written over. Returns the frame's length.
  uint32_t write(uint8_t* dst, const uint8_t* src, uint32_t len) const {
    uint32_t out = len;
    if (vlan.op == VlanEdit::kPush) {
      std::memcpy(dst, src, 12);
      vlan.write_tag(dst + 12);
      copy_frame_bytes(dst + 16, src + 12, len - 12);
      out = len + VlanEdit::kTag;
    } else if (vlan.op == VlanEdit::kPop && VlanEdit::tagged(src, len)) {
      std::memcpy(dst, src, 12);
      copy_frame_bytes(dst + 12, src + 16, len - 16);
      out = len - VlanEdit::kTag;
    } else {
      copy_frame_bytes(dst, src, len);
    }
    mac.write_over(dst);
    return out;
  }
};

class FrameRewrite {
 public:
  static constexpr uint32_t kEthHeader = 14;

  explicit FrameRewrite(const EthernetEdits& e) : edits_(e) {}

  // Whether records of this link type can go to an Ethernet port at all.
  static bool convertible(uint16_t link) {
    return link == kLinkEthernet || link == kLinkRaw || link == kLinkIpv4 || link == kLinkIpv6 || link == kLinkNull || link == kLinkLoop;
  }
  // Whether a record of this link type is changed on its way (false: send it as it is).
  bool needed(uint16_t link) const { return link != kLinkEthernet || edits_.any(); }
  const EthernetEdits& edits() const { return edits_; }

  // The frame to send for record [data, len) of link type `link`; nullptr if it cannot be made
  // an Ethernet frame (unknown family or IP version, too short). *out_len is its length.
  const uint8_t* apply(uint16_t link, const uint8_t* data, uint32_t len, uint32_t* out_len) {
    uint16_t ethertype = 0;
    uint32_t skip = 0;
    if (!plan(link, data, len, &ethertype, &skip)) return nullptr;
    if (link == kLinkEthernet) {
      scratch_.resize(len + edits_.growth());
      *out_len = edits_.write(scratch_.data(), data, len);
      return scratch_.data();
    }
    // A header we make: the MACs asked for (else broadcast and zero), a pushed tag, the ethertype
    // (there is no tag to pop).
    const MacRewrite& mac = edits_.mac;
    const bool push = edits_.vlan.op == VlanEdit::kPush;
    const uint32_t hdr = kEthHeader + (push ? VlanEdit::kTag : 0), body = len - skip;
    scratch_.resize(hdr + body);
    uint8_t* f = scratch_.data();
    std::memcpy(f, mac.dmac, 6);
    std::memcpy(f + 6, mac.smac, 6);
    if (push) edits_.vlan.write_tag(f + 12);
    f[hdr - 2] = uint8_t(ethertype >> 8);
    f[hdr - 1] = uint8_t(ethertype);
    std::memcpy(f + hdr, data + skip, body);
    *out_len = hdr + body;
    return f;
  }

  // The length apply() would give the record, without making the frame; 0 if it cannot be made.
  // (The --threads dispatcher needs only the length: each ring makes the frame itself.)
  uint32_t length(uint16_t link, const uint8_t* data, uint32_t len) const {
    uint16_t ethertype = 0;
    uint32_t skip = 0;
    if (!plan(link, data, len, &ethertype, &skip)) return 0;
    if (link == kLinkEthernet) return edits_.length(data, len);
    return kEthHeader + edits_.growth() + len - skip;
  }

 private:
  // How record [data, len) becomes an Ethernet frame: the ethertype of the header put in front
  // and the bytes of the record's own header skipped; false if it cannot.
  static bool plan(uint16_t link, const uint8_t* data, uint32_t len, uint16_t* ethertype_out, uint32_t* skip_out) {
    uint16_t ethertype = 0;
    uint32_t skip = 0;
    switch (link) {
      case kLinkEthernet:
        return len >= kEthHeader;
      case kLinkRaw:
        ethertype = len ? ip_ethertype(data[0] >> 4) : 0;
        break;
      case kLinkIpv4:
        ethertype = 0x0800;
        break;
      case kLinkIpv6:
        ethertype = 0x86DD;
        break;
      case kLinkNull:
      case kLinkLoop: {
        if (len < 4) return false;
        uint32_t be = uint32_t(data[0]) << 24 | uint32_t(data[1]) << 16 | uint32_t(data[2]) << 8 | data[3];
        uint32_t le = uint32_t(data[3]) << 24 | uint32_t(data[2]) << 16 | uint32_t(data[1]) << 8 | data[0];
        // DLT_NULL's family is in the writer's byte order: a family is small, so one order fits.
        uint32_t family = link == kLinkLoop ? be : (be < 256 ? be : le);
        ethertype = family_ethertype(family);
        skip = 4;
        break;
      }
      default:
        return false;
    }
    *ethertype_out = ethertype;
    *skip_out = skip;
    return ethertype != 0;
  }

  static uint16_t ip_ethertype(unsigned version) { return version == 4 ? 0x0800 : version == 6 ? 0x86DD : 0; }
  // AF_INET is 2 everywhere; AF_INET6 is 10 (Linux), 24 (NetBSD, OpenBSD), 28 (FreeBSD), 30 (macOS).
  static uint16_t family_ethertype(uint32_t f) {
    if (f == 2) return 0x0800;
    if (f == 10 || f == 24 || f == 28 || f == 30) return 0x86DD;
    return 0;
  }

  EthernetEdits edits_;
  std::vector<uint8_t> scratch_;
};

}  // namespace nmc
