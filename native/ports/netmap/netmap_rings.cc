#include "ports/netmap/netmap_rings.h"

#include <atomic>
#include <cerrno>
#include <cstring>

#include "ring/checks.h"
#include "ring/port.h"

namespace nmc {
namespace {

constexpr uint32_t kMaxSlots = 1u << 20;      // far above any netmap ring (NICs and VALE: <= 8192)
constexpr uint32_t kMaxBufSize = 65536;       // slot.len is 16 bits
constexpr uint64_t kMaxRingsPerDir = 2 * 65535;  // nr_*_rings and nr_host_*_rings are 16 bits

PortError malformed(const std::string& what) {
  return PortError(errc::kIo, "netmap: the shared memory is malformed: " + what);
}

}  // namespace

uint64_t timeval_ns(const struct timeval& tv) {
  if (tv.tv_sec <= 0 || tv.tv_usec < 0 || tv.tv_usec >= 1000000) return 0;
  return uint64_t(tv.tv_sec) * 1000000000ull + uint64_t(tv.tv_usec) * 1000ull;
}

NetmapRingSet attach_netmap_rings(uint8_t* base, size_t size, uint64_t nifp_offset, uint32_t pool_bufs) {
  if (!base || reinterpret_cast<uintptr_t>(base) % 8) throw malformed("the region is not 8-byte aligned");
  if (nifp_offset % 8) throw malformed("netmap_if offset " + std::to_string(nifp_offset) + " is not 8-byte aligned");
  if (nifp_offset > size || size - nifp_offset < nm::kIfHeaderSize)
    throw malformed("netmap_if offset " + std::to_string(nifp_offset) + " lies outside the " + std::to_string(size) +
                    "-byte region");
  NetmapRingSet set;
  set.nifp = reinterpret_cast<nm::netmap_if*>(base + nifp_offset);
  const nm::netmap_if& nif = *set.nifp;
  set.if_name.assign(nif.ni_name, strnlen(nif.ni_name, sizeof nif.ni_name));
  set.nic_tx = nif.ni_tx_rings;
  set.nic_rx = nif.ni_rx_rings;
  set.host_tx = nif.ni_host_tx_rings;
  set.host_rx = nif.ni_host_rx_rings;
  const uint64_t ntx = uint64_t(set.nic_tx) + set.host_tx;
  const uint64_t nrx = uint64_t(set.nic_rx) + set.host_rx;
  if (ntx > kMaxRingsPerDir || nrx > kMaxRingsPerDir)
    throw malformed("netmap_if claims " + std::to_string(ntx) + " tx and " + std::to_string(nrx) + " rx rings");
  if ((size - nifp_offset - nm::kIfHeaderSize) / sizeof(int64_t) < ntx + nrx)
    throw malformed("the ring offset table does not fit the region");
  const int64_t* ofs = nm::if_ring_ofs(set.nifp);

  for (uint64_t i = 0; i < ntx + nrx; ++i) {
    if (ofs[i] == 0) continue;  // not bound to this descriptor
    const bool is_tx = i < ntx;
    const uint32_t index = uint32_t(is_tx ? i : i - ntx);
    const std::string what = std::string(is_tx ? "tx" : "rx") + " ring " + std::to_string(index);
    const int64_t at = int64_t(nifp_offset) + ofs[i];
    if (at < 0 || at % 8 || uint64_t(at) > size || size - uint64_t(at) < nm::kRingHeaderSize)
      throw malformed(what + " lies outside the region");
    auto* k = reinterpret_cast<nm::netmap_ring*>(base + at);
    if (k->dir != (is_tx ? 1 : 0)) throw malformed(what + " has direction " + std::to_string(k->dir));
    if (k->num_slots < 2 || k->num_slots > kMaxSlots)
      throw malformed(what + " has " + std::to_string(k->num_slots) + " slots");
    if ((size - uint64_t(at) - nm::kRingHeaderSize) / sizeof(nm::netmap_slot) < k->num_slots)
      throw malformed(what + ": its slots do not fit the region");
    if (k->nr_buf_size == 0 || k->nr_buf_size > kMaxBufSize)
      throw malformed(what + " has " + std::to_string(k->nr_buf_size) + "-byte buffers");
    const int64_t bufs_at = at + k->buf_ofs;
    if (bufs_at < 0 || uint64_t(bufs_at) >= size) throw malformed(what + ": its buffers lie outside the region");
    uint64_t in_map = (size - uint64_t(bufs_at)) / k->nr_buf_size;
    if (in_map == 0) throw malformed(what + ": not one buffer fits the region");
    if (in_map > UINT32_MAX) in_map = UINT32_MAX;
    if (k->head >= k->num_slots || k->cur >= k->num_slots || k->tail >= k->num_slots)
      throw malformed(what + " has head/cur/tail beyond its " + std::to_string(k->num_slots) + " slots");

    if (!is_tx) k->flags |= nm::kRingTimestamp;
    Ring r;
    r.num_slots = k->num_slots;
    r.buf_size = k->nr_buf_size;
    r.head = k->head;
    r.cur = k->cur;
    r.tail = k->tail;
    r.flags = k->flags;
    r.index = index;
    r.is_tx = is_tx;
    r.ts_source = is_tx ? TsSource::kNone : TsSource::kSyncMicros;
    r.ts_ns = is_tx ? 0 : timeval_ns(k->ts);
    r.slot = reinterpret_cast<Slot*>(nm::ring_slots(k));
    r.buf_base = base + bufs_at;
    r.num_bufs = uint32_t(pool_bufs && pool_bufs < in_map ? pool_bufs : in_map);
    (is_tx ? set.tx : set.rx).push_back(r);
    (is_tx ? set.ktx : set.krx).push_back(k);
  }
  return set;
}

bool netmap_push(const Ring& r, nm::netmap_ring* k, std::string* why) {
  const uint32_t n = r.num_slots;
  const char* dir = r.is_tx ? "tx" : "rx";
  auto refuse = [&](const std::string& m) {
    if (why) *why = std::string(dir) + " ring " + std::to_string(r.index) + ": " + m;
    return false;
  };
  const uint32_t khead = k->head;
  if (khead >= n) return refuse("the kernel's head is beyond the ring");
  if (!head_cur_ok(r, khead)) return refuse(head_cur_error(r, khead));  // netmap's own sync prologue
  k->cur = r.cur;
  k->head = r.head;
  return true;
}

bool netmap_pull(Ring& r, const nm::netmap_ring* k, std::string* why) {
  const char* dir = r.is_tx ? "tx" : "rx";
  const uint32_t tail = k->tail;
  if (tail >= r.num_slots) {
    if (why) *why = std::string(dir) + " ring " + std::to_string(r.index) + ": the kernel reported tail " +
                    std::to_string(tail) + " beyond its " + std::to_string(r.num_slots) + " slots";
    return false;
  }
  r.tail = tail;
  if (!r.is_tx) r.ts_ns = timeval_ns(k->ts);
  if (k->head != r.head) {
    if (why) *why = std::string(dir) + " ring " + std::to_string(r.index) + ": the kernel reset the ring (head " +
                    std::to_string(r.head) + " became " + std::to_string(k->head) + ")";
    return false;
  }
  return true;
}

int netmap_sync(std::vector<Ring>& rings, const std::vector<nm::netmap_ring*>& k, const std::function<int()>& kernel,
                std::string* why) {
  for (size_t i = 0; i < rings.size(); ++i)
    if (!netmap_push(rings[i], k[i], why)) return -EINVAL;
  // The kernel reads head/cur and writes tail inside the syscall: keep the compiler from moving
  // our accesses across it.
  std::atomic_signal_fence(std::memory_order_seq_cst);
  int rc = kernel();
  std::atomic_signal_fence(std::memory_order_seq_cst);
  bool ok = true;
  for (size_t i = 0; i < rings.size(); ++i)
    if (!netmap_pull(rings[i], k[i], ok ? why : nullptr)) ok = false;
  if (rc < 0) return rc;
  return ok ? 0 : -EINVAL;
}

}  // namespace nmc
