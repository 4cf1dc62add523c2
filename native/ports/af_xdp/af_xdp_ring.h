// User-space view of one AF_XDP ring (RX, TX, FILL or COMPLETION), mapped from the socket.
//
// Every AF_XDP ring is single-producer/single-consumer with free-running u32 indices; entry i
// lives at descs[i & mask]. The side that produces writes entries, then publishes `producer`
// with a release store; the side that consumes reads `producer` with an acquire load, reads the
// entries, then publishes `consumer` with a release store (so the producer never overwrites an
// entry still being read). We keep local copies of both indices so that checking for work costs
// no shared-cache-line traffic until it is needed.
#pragma once

#include <linux/if_xdp.h>
#include <sys/mman.h>

#include <cstddef>
#include <cstdint>

namespace nmc {

struct XskRing {
  uint32_t* producer = nullptr;
  uint32_t* consumer = nullptr;
  uint32_t* flags = nullptr;
  void* descs = nullptr;
  uint32_t size = 0;
  uint32_t mask = 0;
  void* map = nullptr;
  size_t map_len = 0;

  bool mapped() const { return map != nullptr; }

  // Maps the ring at `pgoff` of socket `fd`, described by `off`; entries are `elem` bytes.
  // Returns 0 or -errno.
  int mmap_from(int fd, const xdp_ring_offset& off, uint32_t entries, size_t elem, off_t pgoff) {
    size_t len = size_t(off.desc) + size_t(entries) * elem;
    void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, pgoff);
    if (p == MAP_FAILED) return -errno;
    uint8_t* b = static_cast<uint8_t*>(p);
    map = p;
    map_len = len;
    producer = reinterpret_cast<uint32_t*>(b + off.producer);
    consumer = reinterpret_cast<uint32_t*>(b + off.consumer);
    flags = reinterpret_cast<uint32_t*>(b + off.flags);
    descs = b + off.desc;
    size = entries;
    mask = entries - 1;
    return 0;
  }

  void unmap() {
    if (map) ::munmap(map, map_len);
    *this = XskRing{};
  }

  uint32_t load_prod() const { return __atomic_load_n(producer, __ATOMIC_ACQUIRE); }
  uint32_t load_cons() const { return __atomic_load_n(consumer, __ATOMIC_ACQUIRE); }
  void store_prod(uint32_t v) { __atomic_store_n(producer, v, __ATOMIC_RELEASE); }
  void store_cons(uint32_t v) { __atomic_store_n(consumer, v, __ATOMIC_RELEASE); }

  // XDP_RING_NEED_WAKEUP: the kernel (driver) sleeps until woken by a syscall. The full fence
  // orders our just-published index before the read of the flag the kernel sets before sleeping.
  bool needs_wakeup() const {
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return __atomic_load_n(flags, __ATOMIC_RELAXED) & XDP_RING_NEED_WAKEUP;
  }

  xdp_desc* desc_at(uint32_t i) const { return static_cast<xdp_desc*>(descs) + (i & mask); }
  uint64_t* addr_at(uint32_t i) const { return static_cast<uint64_t*>(descs) + (i & mask); }
};

}  // namespace nmc
