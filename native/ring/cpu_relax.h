// cpu_relax(): the hint a spin-wait gives the CPU between two looks at shared memory (it saves
// power and lets a sibling hyper-thread run). Every architecture gets one; where none is known,
// a compiler barrier keeps the loop honest (the value is re-read), which is all correctness needs.
#pragma once

// No includes: the header stands alone, so test/native/portable.test.ts can compile it with
// every architecture macro undefined.

namespace nmc {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || (defined(__arm__) && defined(__ARM_ARCH) && __ARM_ARCH >= 7)
  __asm__ __volatile__("yield" ::: "memory");
#elif defined(__powerpc__) || defined(__powerpc64__)
  __asm__ __volatile__("or 27,27,27" ::: "memory");  // lower the thread's priority for a moment
#else
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
#endif
}

}  // namespace nmc
