// Classic BPF (the programs libpcap compiles tcpdump expressions into), run on the capture thread
// where the backend cannot filter in the kernel (pipes, netmap, VALE, AF_XDP).
//
// A program is checked once, before use, the way the kernel checks one at SO_ATTACH_FILTER:
// 1..4096 instructions, only known opcodes, jumps forward and inside the program, scratch memory
// indices below 16, no division by a constant zero, no constant shift of 32 or more, and the last
// instruction a return. Running a checked program then cannot leave it: every packet load is
// bounds-checked (a load past the captured bytes ends the program with 0, "drop", as in the
// kernel and in libpcap), division by a zero X returns 0, and every jump moves forward, so a
// program runs at most as many instructions as it has.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace nmc {

// struct bpf_insn / struct sock_filter: 8 bytes, host byte order.
struct BpfInsn {
  uint16_t code;
  uint8_t jt;
  uint8_t jf;
  uint32_t k;
};
static_assert(sizeof(BpfInsn) == 8, "BpfInsn must match struct bpf_insn");

inline constexpr uint32_t kBpfMaxInsns = 4096;  // BPF_MAXINSNS
inline constexpr uint32_t kBpfMemWords = 16;    // BPF_MEMWORDS

// Empty when the program may run; otherwise what is wrong with it (one line, naming the
// instruction).
std::string bpf_check(const std::vector<BpfInsn>& prog);

// Runs a checked program over `caplen` bytes of a packet that was `wirelen` bytes on the wire.
// The result is the number of bytes to keep: 0 drops the packet.
uint32_t bpf_run(const BpfInsn* prog, const uint8_t* pkt, uint32_t caplen, uint32_t wirelen);

}  // namespace nmc
