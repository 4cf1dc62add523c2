// Rewriting on the way to an Ethernet port, on the native path (no per-packet JS): --dmac/--smac,
// and records whose link type is not Ethernet given an Ethernet header where that is well defined
// (raw IPv4/IPv6, BSD and OpenBSD loopback with an IPv4/IPv6 family). Anything else is refused
// (counted as failed), never sent as garbage.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

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

class FrameRewrite {
 public:
  static constexpr uint32_t kEthHeader = 14;

  explicit FrameRewrite(const MacRewrite& m) : mac_(m) {}

  // Whether records of this link type can go to an Ethernet port at all.
  static bool convertible(uint16_t link) {
    return link == kLinkEthernet || link == kLinkRaw || link == kLinkIpv4 || link == kLinkIpv6 || link == kLinkNull || link == kLinkLoop;
  }
  // Whether a record of this link type needs the scratch copy (false: send it as it is).
  bool needed(uint16_t link) const { return link != kLinkEthernet || mac_.any(); }
  // Whether its rewrite can be done in its slot instead, over the copied frame (an Ethernet record
  // whose MACs are replaced: mac().write_over). Other link types get a new header: scratch.
  static bool in_slot(uint16_t link) { return link == kLinkEthernet; }
  const MacRewrite& mac() const { return mac_; }

  // The frame to send for record [data, len) of link type `link`; nullptr if it cannot be made
  // an Ethernet frame (unknown family or IP version, too short). *out_len is its length.
  const uint8_t* apply(uint16_t link, const uint8_t* data, uint32_t len, uint32_t* out_len) {
    uint16_t ethertype = 0;
    uint32_t skip = 0;
    if (!plan(link, data, len, &ethertype, &skip)) return nullptr;
    if (link == kLinkEthernet) {
      scratch_.assign(data, data + len);
      mac_.write_over(scratch_.data());
      *out_len = len;
      return scratch_.data();
    }
    uint32_t body = len - skip;
    scratch_.resize(kEthHeader + body);
    std::memcpy(scratch_.data(), mac_.dmac, 6);
    std::memcpy(scratch_.data() + 6, mac_.smac, 6);
    scratch_[12] = uint8_t(ethertype >> 8);
    scratch_[13] = uint8_t(ethertype);
    std::memcpy(scratch_.data() + kEthHeader, data + skip, body);
    *out_len = kEthHeader + body;
    return scratch_.data();
  }

  // The length apply() would give the record, without making the frame; 0 if it cannot be made.
  // (The --threads dispatcher needs only the length: each ring makes the frame itself.)
  static uint32_t length(uint16_t link, const uint8_t* data, uint32_t len) {
    uint16_t ethertype = 0;
    uint32_t skip = 0;
    if (!plan(link, data, len, &ethertype, &skip)) return 0;
    return link == kLinkEthernet ? len : kEthHeader + len - skip;
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

  MacRewrite mac_;
  std::vector<uint8_t> scratch_;
};

}  // namespace nmc
