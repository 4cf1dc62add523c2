// nmc::Ring adapters over netmap's shared memory, and the user <-> kernel copies around a sync.
//
// An adapter points straight at the kernel ring's slot array and buffers (same 16-byte slot
// layout, zero copies); only head/cur/tail/ts are kept apart, because the loops own the adapter's
// indices and the kernel may only see them at a sync: before NIOCTXSYNC / NIOCRXSYNC / poll() we
// copy each adapter's head and cur into its kernel ring, afterwards we copy tail (and, on RX, the
// ring timestamp) back.
//
// Everything here works on a base pointer and a size, so it runs the same on a real mapping of
// /dev/netmap and on a test buffer laid out in the documented format; the ioctl itself is the
// only kernel part, passed in as a function.
#pragma once

#include <sys/time.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ports/netmap/netmap_abi.h"
#include "ring/ring.h"

namespace nmc {

// The rings bound to one netmap descriptor, found through netmap_if.ring_ofs[].
struct NetmapRingSet {
  std::vector<Ring> tx, rx;                // adapters, in ring_ofs order (NIC rings, then host rings)
  std::vector<nm::netmap_ring*> ktx, krx;  // the kernel rings they mirror, same order
  nm::netmap_if* nifp = nullptr;
  std::string if_name;  // netmap_if.ni_name
  uint32_t nic_tx = 0, nic_rx = 0, host_tx = 0, host_rx = 0;  // ring counts of the port
};

// Attaches adapters to every ring bound in the region [base, base + size) whose netmap_if sits at
// nifp_offset (nmreq_register.nr_offset). Ring.index is the ring's number within its direction as
// netmap counts it (host rings follow the NIC rings). pool_bufs is the buffer pool's object count
// when known (0 = bound by the mapping alone); num_bufs never lets a buffer index reach outside the
// region. Sets NR_TIMESTAMP on RX rings so the kernel stamps ring->ts on every rxsync even with
// dev.netmap.no_timestamp=1. Throws PortError(ERR_PORT_IO) naming what is malformed.
NetmapRingSet attach_netmap_rings(uint8_t* base, size_t size, uint64_t nifp_offset, uint32_t pool_bufs);

// user -> kernel for one ring: refuses (false, *why set) head/cur the kernel's sync prologue would
// reject (head must lie in [kernel head, tail], cur in [head, tail], both below num_slots), which
// would otherwise make the kernel silently reset the ring.
bool netmap_push(const Ring& r, nm::netmap_ring* k, std::string* why);

// kernel -> user for one ring: tail, and the ring timestamp on RX. False (*why set) if the kernel
// reports an impossible tail or reset the ring (its head is no longer ours).
bool netmap_pull(Ring& r, const nm::netmap_ring* k, std::string* why);

// One sync of one direction: push every ring, call `kernel` (0 or -errno), pull every ring.
// Returns 0, the kernel's -errno, or -EINVAL with *why set when a ring state is invalid.
int netmap_sync(std::vector<Ring>& rings, const std::vector<nm::netmap_ring*>& k, const std::function<int()>& kernel,
                std::string* why);

// struct timeval (microseconds) -> ns since the epoch; 0 for "not stamped" or a malformed value.
uint64_t timeval_ns(const struct timeval& tv);

}  // namespace nmc
