#include "loops/bpf.h"

#include <linux/filter.h>

namespace nmc {

namespace {

// The ancillary-data window (SKF_AD_OFF and up, negative offsets as u32): the kernel answers such
// loads from skb metadata. There is no skb here, so a program that asks cannot run in user space.
constexpr uint32_t kAncillaryFrom = 0xfffff000u;

bool is_load_abs(uint16_t code) {
  return code == (BPF_LD | BPF_W | BPF_ABS) || code == (BPF_LD | BPF_H | BPF_ABS) || code == (BPF_LD | BPF_B | BPF_ABS);
}

bool known_alu(uint16_t op) {
  switch (op) {
    case BPF_ADD: case BPF_SUB: case BPF_MUL: case BPF_DIV: case BPF_OR: case BPF_AND:
    case BPF_LSH: case BPF_RSH: case BPF_MOD: case BPF_XOR:
      return true;
    default:
      return false;
  }
}

std::string at(uint32_t pc, const std::string& what) { return "instruction " + std::to_string(pc) + ": " + what; }

inline uint32_t load32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }
inline uint32_t load16(const uint8_t* p) { return uint32_t(p[0]) << 8 | p[1]; }

}  // namespace

std::string bpf_check(const std::vector<BpfInsn>& prog) {
  const uint32_t n = uint32_t(prog.size());
  if (n == 0) return "the program is empty";
  if (n > kBpfMaxInsns) return "the program has " + std::to_string(n) + " instructions, more than " + std::to_string(kBpfMaxInsns);
  for (uint32_t pc = 0; pc < n; ++pc) {
    const BpfInsn& i = prog[pc];
    const uint32_t left = n - pc - 1;  // instructions after this one
    switch (BPF_CLASS(i.code)) {
      case BPF_LD:
        if (is_load_abs(i.code)) {
          if (i.k >= kAncillaryFrom) return at(pc, "loads Linux ancillary data, which only the kernel can provide");
          break;
        }
        if (i.code == (BPF_LD | BPF_W | BPF_IND) || i.code == (BPF_LD | BPF_H | BPF_IND) || i.code == (BPF_LD | BPF_B | BPF_IND) ||
            i.code == (BPF_LD | BPF_W | BPF_LEN) || i.code == (BPF_LD | BPF_IMM))
          break;
        if (i.code == (BPF_LD | BPF_W | BPF_MEM)) {
          if (i.k >= kBpfMemWords) return at(pc, "scratch memory index out of range");
          break;
        }
        return at(pc, "unknown load");
      case BPF_LDX:
        if (i.code == (BPF_LDX | BPF_W | BPF_IMM) || i.code == (BPF_LDX | BPF_W | BPF_LEN) || i.code == (BPF_LDX | BPF_B | BPF_MSH)) break;
        if (i.code == (BPF_LDX | BPF_W | BPF_MEM)) {
          if (i.k >= kBpfMemWords) return at(pc, "scratch memory index out of range");
          break;
        }
        return at(pc, "unknown load into X");
      case BPF_ST:
      case BPF_STX:
        if (i.code != BPF_ST && i.code != BPF_STX) return at(pc, "unknown store");
        if (i.k >= kBpfMemWords) return at(pc, "scratch memory index out of range");
        break;
      case BPF_ALU: {
        const uint16_t op = BPF_OP(i.code);
        if (op == BPF_NEG) {
          if (i.code != (BPF_ALU | BPF_NEG)) return at(pc, "unknown arithmetic");
          break;
        }
        if (!known_alu(op) || (i.code & ~uint16_t(BPF_OP(0xff) | BPF_SRC(0xff) | BPF_CLASS(0xff))) != 0)
          return at(pc, "unknown arithmetic");
        if (BPF_SRC(i.code) == BPF_K) {
          if ((op == BPF_DIV || op == BPF_MOD) && i.k == 0) return at(pc, "division by zero");
          if ((op == BPF_LSH || op == BPF_RSH) && i.k >= 32) return at(pc, "shift by 32 or more");
        }
        break;
      }
      case BPF_JMP: {
        const uint16_t op = BPF_OP(i.code);
        if (i.code == (BPF_JMP | BPF_JA)) {
          if (i.k >= left) return at(pc, "jumps past the end");
          break;
        }
        if ((op != BPF_JEQ && op != BPF_JGT && op != BPF_JGE && op != BPF_JSET) ||
            (i.code & ~uint16_t(BPF_OP(0xff) | BPF_SRC(0xff) | BPF_CLASS(0xff))) != 0)
          return at(pc, "unknown jump");
        if (i.jt >= left || i.jf >= left) return at(pc, "jumps past the end");
        break;
      }
      case BPF_RET:
        if (i.code != (BPF_RET | BPF_K) && i.code != (BPF_RET | BPF_A)) return at(pc, "unknown return");
        break;
      case BPF_MISC:
        if (i.code != (BPF_MISC | BPF_TAX) && i.code != (BPF_MISC | BPF_TXA)) return at(pc, "unknown register move");
        break;
    }
  }
  if (BPF_CLASS(prog[n - 1].code) != BPF_RET) return "the last instruction is not a return";
  return {};
}

uint32_t bpf_run(const BpfInsn* prog, const uint8_t* pkt, uint32_t caplen, uint32_t wirelen) {
  uint32_t a = 0, x = 0;
  uint32_t mem[kBpfMemWords] = {};
  for (const BpfInsn* i = prog;; ++i) {
    const uint32_t k = i->k;
    switch (i->code) {
      case BPF_RET | BPF_K: return k;
      case BPF_RET | BPF_A: return a;

      case BPF_LD | BPF_W | BPF_ABS:
        if (k > caplen || caplen - k < 4) return 0;
        a = load32(pkt + k);
        break;
      case BPF_LD | BPF_H | BPF_ABS:
        if (k > caplen || caplen - k < 2) return 0;
        a = load16(pkt + k);
        break;
      case BPF_LD | BPF_B | BPF_ABS:
        if (k >= caplen) return 0;
        a = pkt[k];
        break;
      case BPF_LD | BPF_W | BPF_IND: {
        const uint32_t off = x + k;
        if (off < x || off > caplen || caplen - off < 4) return 0;  // off < x: the sum wrapped
        a = load32(pkt + off);
        break;
      }
      case BPF_LD | BPF_H | BPF_IND: {
        const uint32_t off = x + k;
        if (off < x || off > caplen || caplen - off < 2) return 0;
        a = load16(pkt + off);
        break;
      }
      case BPF_LD | BPF_B | BPF_IND: {
        const uint32_t off = x + k;
        if (off < x || off >= caplen) return 0;
        a = pkt[off];
        break;
      }
      case BPF_LD | BPF_W | BPF_LEN: a = wirelen; break;
      case BPF_LDX | BPF_W | BPF_LEN: x = wirelen; break;
      case BPF_LD | BPF_IMM: a = k; break;
      case BPF_LDX | BPF_W | BPF_IMM: x = k; break;
      case BPF_LD | BPF_W | BPF_MEM: a = mem[k]; break;
      case BPF_LDX | BPF_W | BPF_MEM: x = mem[k]; break;
      case BPF_LDX | BPF_B | BPF_MSH:
        if (k >= caplen) return 0;
        x = uint32_t(pkt[k] & 0x0f) << 2;
        break;
      case BPF_ST: mem[k] = a; break;
      case BPF_STX: mem[k] = x; break;

      case BPF_JMP | BPF_JA: i += k; break;
      case BPF_JMP | BPF_JEQ | BPF_K: i += a == k ? i->jt : i->jf; break;
      case BPF_JMP | BPF_JGT | BPF_K: i += a > k ? i->jt : i->jf; break;
      case BPF_JMP | BPF_JGE | BPF_K: i += a >= k ? i->jt : i->jf; break;
      case BPF_JMP | BPF_JSET | BPF_K: i += (a & k) ? i->jt : i->jf; break;
      case BPF_JMP | BPF_JEQ | BPF_X: i += a == x ? i->jt : i->jf; break;
      case BPF_JMP | BPF_JGT | BPF_X: i += a > x ? i->jt : i->jf; break;
      case BPF_JMP | BPF_JGE | BPF_X: i += a >= x ? i->jt : i->jf; break;
      case BPF_JMP | BPF_JSET | BPF_X: i += (a & x) ? i->jt : i->jf; break;

      case BPF_ALU | BPF_ADD | BPF_K: a += k; break;
      case BPF_ALU | BPF_SUB | BPF_K: a -= k; break;
      case BPF_ALU | BPF_MUL | BPF_K: a *= k; break;
      case BPF_ALU | BPF_DIV | BPF_K: a /= k; break;  // k != 0: checked
      case BPF_ALU | BPF_MOD | BPF_K: a %= k; break;
      case BPF_ALU | BPF_AND | BPF_K: a &= k; break;
      case BPF_ALU | BPF_OR | BPF_K: a |= k; break;
      case BPF_ALU | BPF_XOR | BPF_K: a ^= k; break;
      case BPF_ALU | BPF_LSH | BPF_K: a <<= k; break;  // k < 32: checked
      case BPF_ALU | BPF_RSH | BPF_K: a >>= k; break;
      case BPF_ALU | BPF_ADD | BPF_X: a += x; break;
      case BPF_ALU | BPF_SUB | BPF_X: a -= x; break;
      case BPF_ALU | BPF_MUL | BPF_X: a *= x; break;
      case BPF_ALU | BPF_DIV | BPF_X:
        if (x == 0) return 0;
        a /= x;
        break;
      case BPF_ALU | BPF_MOD | BPF_X:
        if (x == 0) return 0;
        a %= x;
        break;
      case BPF_ALU | BPF_AND | BPF_X: a &= x; break;
      case BPF_ALU | BPF_OR | BPF_X: a |= x; break;
      case BPF_ALU | BPF_XOR | BPF_X: a ^= x; break;
      case BPF_ALU | BPF_LSH | BPF_X: a = x < 32 ? a << x : 0; break;
      case BPF_ALU | BPF_RSH | BPF_X: a = x < 32 ? a >> x : 0; break;
      case BPF_ALU | BPF_NEG: a = 0u - a; break;

      case BPF_MISC | BPF_TAX: x = a; break;
      case BPF_MISC | BPF_TXA: a = x; break;

      default: return 0;  // bpf_check refuses these; never reached for a checked program
    }
  }
}

}  // namespace nmc
