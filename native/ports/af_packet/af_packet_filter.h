// Tiny classic-BPF socket filters the af_packet backend attaches to its RX sockets.
//
// A socket filter's return value is the number of bytes to keep (0 = drop the packet, uncounted),
// so `ret #snaplen` makes the kernel truncate exactly at snaplen while tp_len still reports the
// length on the wire; the same trick libpcap's compiled filters use. A later capture filter must
// return the snaplen in the same way when it replaces these.
#pragma once

#include <linux/filter.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <vector>

namespace nmc {

using AfPacketFilter = std::vector<sock_filter>;

inline sock_filter af_packet_bpf(uint16_t code, uint8_t jt, uint8_t jf, uint32_t k) { return sock_filter{code, jt, jf, k}; }

// Drops everything; held while a fanout group is being assembled so no packet lands in a ring
// that is not yet in its place.
inline AfPacketFilter af_packet_reject_all() { return {af_packet_bpf(BPF_RET | BPF_K, 0, 0, 0)}; }

// Keeps `keep` bytes of every packet (0xffffffff = all). With modulus > 0, only of packets whose
// skb->queue_mapping % modulus == match, dropping the rest: the same partition PACKET_FANOUT_QM
// makes over `modulus` members, so one queue opened alone sees what its fanout member would.
inline AfPacketFilter af_packet_keep_filter(uint32_t keep, uint32_t modulus, uint32_t match) {
  AfPacketFilter f;
  if (modulus == 0) {
    f.push_back(af_packet_bpf(BPF_RET | BPF_K, 0, 0, keep));
    return f;
  }
  // 0: A = skb->queue_mapping
  // 1: A %= modulus
  // 2: if A == match goto 4
  // 3: ret 0            (drop)
  // 4: ret keep
  f.push_back(af_packet_bpf(BPF_LD | BPF_W | BPF_ABS, 0, 0, uint32_t(SKF_AD_OFF + SKF_AD_QUEUE)));
  f.push_back(af_packet_bpf(BPF_ALU | BPF_MOD | BPF_K, 0, 0, modulus));
  f.push_back(af_packet_bpf(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, match));
  f.push_back(af_packet_bpf(BPF_RET | BPF_K, 0, 0, 0));
  f.push_back(af_packet_bpf(BPF_RET | BPF_K, 0, 0, keep));
  return f;
}

// 0 or -errno.
inline int af_packet_attach(int fd, AfPacketFilter& f) {
  sock_fprog prog{uint16_t(f.size()), f.data()};
  return ::setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) == 0 ? 0 : -errno;
}

inline void af_packet_detach(int fd) {
  int zero = 0;
  ::setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &zero, sizeof zero);  // ENOENT when none: fine
}

}  // namespace nmc
