// netmap's user/kernel ABI, API version 14: the control requests (NIOCCTRL with nmreq_header and
// nmreq_register), the sync ioctls and the shared-memory layout (netmap_if, netmap_ring,
// netmap_slot). Written from the documented format (sys/net/netmap.h, netmap_legacy.h, netmap(4));
// every size and offset below is pinned with a static_assert so a slip cannot compile.
//
// Nothing here needs the netmap module: these are plain definitions, usable (and tested) on any
// Linux machine.
#pragma once

#include <sys/ioctl.h>
#include <sys/time.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>

#include "ring/ring.h"

namespace nmc::nm {

// --- versions and sizes --------------------------------------------------------------------

inline constexpr uint16_t kApi = 14;     // what we put in nmreq_header.nr_version
inline constexpr uint16_t kMinApi = 14;  // range the current kernel module accepts
inline constexpr uint16_t kMaxApi = 15;
inline constexpr size_t kIfNamSiz = 16;      // IFNAMSIZ: netmap_if.ni_name, legacy nmreq name
inline constexpr size_t kReqIfNamSiz = 64;   // NETMAP_REQ_IFNAMSIZ: nmreq_header.nr_name
inline constexpr size_t kReqMaxSize = 4096;  // NETMAP_REQ_MAXSIZE: a request with all options
inline constexpr uint16_t kRingMask = 0x0fff;  // NETMAP_RING_MASK: ring numbers are below this
inline constexpr uint32_t kMaxFrags = 64;      // NETMAP_MAX_FRAGS

// --- request types (nmreq_header.nr_reqtype) -------------------------------------------------

inline constexpr uint16_t kReqRegister = 1;
inline constexpr uint16_t kReqPortInfoGet = 2;
inline constexpr uint16_t kReqValeAttach = 3;
inline constexpr uint16_t kReqValeDetach = 4;
inline constexpr uint16_t kReqValeList = 5;
inline constexpr uint16_t kReqPortHdrSet = 6;
inline constexpr uint16_t kReqPortHdrGet = 7;
inline constexpr uint16_t kReqValeNewIf = 8;
inline constexpr uint16_t kReqValeDelIf = 9;
inline constexpr uint16_t kReqValePollingEnable = 10;
inline constexpr uint16_t kReqValePollingDisable = 11;
inline constexpr uint16_t kReqPoolsInfoGet = 12;
inline constexpr uint16_t kReqSyncKloopStart = 13;
inline constexpr uint16_t kReqSyncKloopStop = 14;
inline constexpr uint16_t kReqCsbEnable = 15;

// Option types (nmreq_option.nro_reqtype).
inline constexpr uint32_t kOptExtmem = 1;
inline constexpr uint32_t kOptSyncKloopEventfds = 2;
inline constexpr uint32_t kOptCsb = 3;
inline constexpr uint32_t kOptSyncKloopMode = 4;
inline constexpr uint32_t kOptOffsets = 5;

// --- registration modes (nmreq_register.nr_mode) ---------------------------------------------

inline constexpr uint32_t kRegDefault = 0;     // backward compatibility only
inline constexpr uint32_t kRegAllNic = 1;      // "netmap:IF": every NIC ring pair
inline constexpr uint32_t kRegSw = 2;          // "netmap:IF^": the host (software) rings
inline constexpr uint32_t kRegNicSw = 3;       // "netmap:IF*": NIC and host rings
inline constexpr uint32_t kRegOneNic = 4;      // "netmap:IF-N": NIC ring pair N
inline constexpr uint32_t kRegPipeMaster = 5;  // deprecated in favour of the "x{N" name syntax
inline constexpr uint32_t kRegPipeSlave = 6;   // deprecated in favour of the "x}N" name syntax
inline constexpr uint32_t kRegNull = 7;
inline constexpr uint32_t kRegOneSw = 8;       // "netmap:IF^N": host ring pair N

// --- registration flags (nmreq_register.nr_flags) --------------------------------------------

inline constexpr uint64_t kFlagMonitorTx = 0x100;    // "/t": copy monitor of the TX rings
inline constexpr uint64_t kFlagMonitorRx = 0x200;    // "/r": copy monitor of the RX rings
inline constexpr uint64_t kFlagZcopyMon = 0x400;     // "/z": zero-copy monitor
inline constexpr uint64_t kFlagExclusive = 0x800;    // "/x": nobody else may bind these rings
inline constexpr uint64_t kFlagRxRingsOnly = 0x2000; // "/R"
inline constexpr uint64_t kFlagTxRingsOnly = 0x4000; // "/T"
inline constexpr uint64_t kFlagAcceptVnetHdr = 0x8000;
inline constexpr uint64_t kFlagDoRxPoll = 0x10000;
inline constexpr uint64_t kFlagNoTxPoll = 0x20000;

// --- ring and interface flags ----------------------------------------------------------------

inline constexpr uint32_t kRingTimestamp = 0x0002;  // NR_TIMESTAMP: stamp ring->ts on every sync
inline constexpr uint32_t kRingForward = 0x0004;    // NR_FORWARD: honour NS_FORWARD on this ring
inline constexpr uint32_t kIfPrivMem = 0x1;  // NI_PRIV_MEM

// Slot flags: the same values as nmc::NS_* (ring.h), plus the ones only netmap has.
inline constexpr uint16_t kSlotBufChanged = 0x0001;
inline constexpr uint16_t kSlotReport = 0x0002;
inline constexpr uint16_t kSlotForward = 0x0004;
inline constexpr uint16_t kSlotNoLearn = 0x0008;
inline constexpr uint16_t kSlotIndirect = 0x0010;
inline constexpr uint16_t kSlotMoreFrag = 0x0020;
inline constexpr uint16_t kSlotTxMon = 0x0040;  // monitor ports: the packet came from a TX ring
inline constexpr uint16_t kSlotPortShift = 8;   // VALE: high byte = destination port (TX) / fragment count (RX)
inline constexpr uint16_t kSlotPortMask = 0xff00;
static_assert(kSlotBufChanged == NS_BUF_CHANGED && kSlotReport == NS_REPORT && kSlotForward == NS_FORWARD &&
              kSlotNoLearn == NS_NO_LEARN && kSlotIndirect == NS_INDIRECT && kSlotMoreFrag == NS_MOREFRAG);

// --- control requests ------------------------------------------------------------------------

// Header of every NIOCCTRL request. nr_body and nr_options hold user addresses.
struct nmreq_header {
  uint16_t nr_version;
  uint16_t nr_reqtype;
  uint32_t nr_reserved;  // must be zero
  char nr_name[kReqIfNamSiz];
  uint64_t nr_options;  // first struct nmreq_option, 0 = none
  uint64_t nr_body;     // the request body, e.g. struct nmreq_register
};

struct nmreq_option {
  uint64_t nro_next;
  uint32_t nro_reqtype;
  uint32_t nro_status;  // (out) 0 or an errno for this option
  uint64_t nro_size;    // only for variable-size options
};

// Body of NETMAP_REQ_REGISTER. Ring and slot counts are in/out: non-zero inputs ask for a
// configuration (honoured only by ports the request creates), outputs say what was bound.
struct nmreq_register {
  uint64_t nr_offset;   // (out) netmap_if offset in the mapping
  uint64_t nr_memsize;  // (out) size of the mapping
  uint32_t nr_tx_slots;
  uint32_t nr_rx_slots;
  uint16_t nr_tx_rings;
  uint16_t nr_rx_rings;
  uint16_t nr_host_tx_rings;
  uint16_t nr_host_rx_rings;
  uint16_t nr_mem_id;   // in/out: memory region, 0 = let the kernel choose
  uint16_t nr_ringid;   // ring number for kRegOneNic / kRegOneSw
  uint32_t nr_mode;     // kReg*
  uint32_t nr_extra_bufs;
  uint64_t nr_flags;    // kFlag*
};

// Body of NETMAP_REQ_PORT_INFO_GET.
struct nmreq_port_info_get {
  uint64_t nr_memsize;
  uint32_t nr_tx_slots;
  uint32_t nr_rx_slots;
  uint16_t nr_tx_rings;
  uint16_t nr_rx_rings;
  uint16_t nr_host_tx_rings;
  uint16_t nr_host_rx_rings;
  uint16_t nr_mem_id;
  uint16_t pad[3];
};

// Body of NETMAP_REQ_POOLS_INFO_GET: where the interface, ring and buffer pools of a memory region
// are and how many objects each holds.
struct nmreq_pools_info {
  uint64_t nr_memsize;
  uint16_t nr_mem_id;
  uint16_t pad1[3];
  uint64_t nr_if_pool_offset;
  uint32_t nr_if_pool_objtotal;
  uint32_t nr_if_pool_objsize;
  uint64_t nr_ring_pool_offset;
  uint32_t nr_ring_pool_objtotal;
  uint32_t nr_ring_pool_objsize;
  uint64_t nr_buf_pool_offset;
  uint32_t nr_buf_pool_objtotal;
  uint32_t nr_buf_pool_objsize;
};

// The legacy request of NIOCGINFO / NIOCREGIF (API < 14). Only here so the legacy ioctl numbers
// can be computed and checked; nmcap registers with NIOCCTRL.
struct nmreq_legacy {
  char nr_name[kIfNamSiz];
  uint32_t nr_version;
  uint32_t nr_offset;
  uint32_t nr_memsize;
  uint32_t nr_tx_slots;
  uint32_t nr_rx_slots;
  uint16_t nr_tx_rings;
  uint16_t nr_rx_rings;
  uint16_t nr_ringid;
  uint16_t nr_cmd;
  uint16_t nr_arg1;
  uint16_t nr_arg2;
  uint32_t nr_arg3;
  uint32_t nr_flags;
  uint32_t spare2[1];
};

// Opaque request for external kernel modules (NIOCCONFIG).
struct nm_ifreq {
  char nifr_name[kIfNamSiz];
  char data[256];
};

// --- ioctl numbers ---------------------------------------------------------------------------

inline constexpr unsigned long kNiocGinfo = _IOWR('i', 145, nmreq_legacy);
inline constexpr unsigned long kNiocRegif = _IOWR('i', 146, nmreq_legacy);
inline constexpr unsigned long kNiocTxsync = _IO('i', 148);  // no argument, never blocks
inline constexpr unsigned long kNiocRxsync = _IO('i', 149);
inline constexpr unsigned long kNiocConfig = _IOWR('i', 150, nm_ifreq);
inline constexpr unsigned long kNiocCtrl = _IOWR('i', 151, nmreq_header);

// --- shared memory ---------------------------------------------------------------------------

// One buffer descriptor; the kernel's slot array is used in place as nmc::Slot[].
struct netmap_slot {
  uint32_t buf_idx;
  uint16_t len;
  uint16_t flags;
  uint64_t ptr;
};

// Ring header. The kernel declares sem[] with 128-byte alignment, which puts it at 128 and makes
// the header 256 bytes; the slots follow at 256. The padding is spelled out here instead of
// using alignas, so a ring may sit at any 8-byte boundary (a test buffer, not only a page).
struct netmap_ring {
  int64_t buf_ofs;       // buffers start at (char*)ring + buf_ofs
  uint32_t num_slots;
  uint32_t nr_buf_size;
  uint16_t ringid;
  uint16_t dir;          // 1 = tx, 0 = rx: the kernel stores kring->tx (NR_TX = 1, NR_RX = 0);
                         // netmap.h's own comment says the opposite and is wrong
  uint32_t head;         // (u) first slot owned by the user
  uint32_t cur;          // (u) wake-up point
  uint32_t tail;         // (k) first slot owned by the kernel
  uint32_t flags;        // kRing*
  struct timeval ts;     // (k) time of the last rxsync
  uint64_t offset_mask;  // API 14 buffer offsets (NETMAP_REQ_OPT_OFFSETS); unused by nmcap
  uint64_t buf_align;
  uint8_t pad_[128 - 72];
  uint8_t sem[128];
};
inline constexpr size_t kRingHeaderSize = 256;

inline netmap_slot* ring_slots(netmap_ring* r) {
  return reinterpret_cast<netmap_slot*>(reinterpret_cast<uint8_t*>(r) + kRingHeaderSize);
}

// One per bound file descriptor, at nr_offset in the mapping. ring_ofs[] follows the fixed part:
// offsets of the rings relative to this struct, ordered NIC tx, host tx, NIC rx, host rx; rings
// not bound to this descriptor have offset 0.
struct netmap_if {
  char ni_name[kIfNamSiz];
  uint32_t ni_version;
  uint32_t ni_flags;       // kIfPrivMem
  uint32_t ni_tx_rings;    // NIC tx rings
  uint32_t ni_rx_rings;    // NIC rx rings
  uint32_t ni_bufs_head;   // extra buffers list
  uint32_t ni_host_tx_rings;
  uint32_t ni_host_rx_rings;
  uint32_t ni_spare1[3];
};
inline constexpr size_t kIfHeaderSize = 56;

inline int64_t* if_ring_ofs(netmap_if* nifp) {
  return reinterpret_cast<int64_t*>(reinterpret_cast<uint8_t*>(nifp) + kIfHeaderSize);
}

// --- layout checks ---------------------------------------------------------------------------

static_assert(sizeof(nmreq_header) == 88);
static_assert(offsetof(nmreq_header, nr_version) == 0 && offsetof(nmreq_header, nr_reqtype) == 2 &&
              offsetof(nmreq_header, nr_reserved) == 4 && offsetof(nmreq_header, nr_name) == 8 &&
              offsetof(nmreq_header, nr_options) == 72 && offsetof(nmreq_header, nr_body) == 80);
static_assert(sizeof(nmreq_option) == 24);
static_assert(offsetof(nmreq_option, nro_next) == 0 && offsetof(nmreq_option, nro_reqtype) == 8 &&
              offsetof(nmreq_option, nro_status) == 12 && offsetof(nmreq_option, nro_size) == 16);
static_assert(sizeof(nmreq_register) == 56);
static_assert(offsetof(nmreq_register, nr_offset) == 0 && offsetof(nmreq_register, nr_memsize) == 8 &&
              offsetof(nmreq_register, nr_tx_slots) == 16 && offsetof(nmreq_register, nr_rx_slots) == 20 &&
              offsetof(nmreq_register, nr_tx_rings) == 24 && offsetof(nmreq_register, nr_rx_rings) == 26 &&
              offsetof(nmreq_register, nr_host_tx_rings) == 28 && offsetof(nmreq_register, nr_host_rx_rings) == 30 &&
              offsetof(nmreq_register, nr_mem_id) == 32 && offsetof(nmreq_register, nr_ringid) == 34 &&
              offsetof(nmreq_register, nr_mode) == 36 && offsetof(nmreq_register, nr_extra_bufs) == 40 &&
              offsetof(nmreq_register, nr_flags) == 48);
static_assert(sizeof(nmreq_port_info_get) == 32);
static_assert(sizeof(nmreq_pools_info) == 64);
static_assert(offsetof(nmreq_pools_info, nr_buf_pool_offset) == 48 &&
              offsetof(nmreq_pools_info, nr_buf_pool_objtotal) == 56 &&
              offsetof(nmreq_pools_info, nr_buf_pool_objsize) == 60);
static_assert(sizeof(nmreq_legacy) == 60);
static_assert(sizeof(nm_ifreq) == 272);

static_assert(sizeof(netmap_slot) == 16 && sizeof(netmap_slot) == sizeof(Slot));
static_assert(offsetof(netmap_slot, buf_idx) == offsetof(Slot, buf_idx) &&
              offsetof(netmap_slot, len) == offsetof(Slot, len) &&
              offsetof(netmap_slot, flags) == offsetof(Slot, flags) && offsetof(netmap_slot, ptr) == offsetof(Slot, ptr));

// The layouts below are the LP64 ones (x86_64, aarch64, ...). Elsewhere the file still compiles,
// and open_netmap_port() refuses with ERR_PORT_UNSUPPORTED instead of guessing.
#if __SIZEOF_POINTER__ == 8 && __SIZEOF_LONG__ == 8
inline constexpr bool kLayoutSupported = true;
static_assert(sizeof(struct timeval) == 16);
static_assert(sizeof(netmap_ring) == kRingHeaderSize);
static_assert(offsetof(netmap_ring, buf_ofs) == 0 && offsetof(netmap_ring, num_slots) == 8 &&
              offsetof(netmap_ring, nr_buf_size) == 12 && offsetof(netmap_ring, ringid) == 16 &&
              offsetof(netmap_ring, dir) == 18 && offsetof(netmap_ring, head) == 20 && offsetof(netmap_ring, cur) == 24 &&
              offsetof(netmap_ring, tail) == 28 && offsetof(netmap_ring, flags) == 32 && offsetof(netmap_ring, ts) == 40 &&
              offsetof(netmap_ring, offset_mask) == 56 && offsetof(netmap_ring, buf_align) == 64 &&
              offsetof(netmap_ring, sem) == 128);
static_assert(sizeof(netmap_if) == kIfHeaderSize);
static_assert(offsetof(netmap_if, ni_version) == 16 && offsetof(netmap_if, ni_flags) == 20 &&
              offsetof(netmap_if, ni_tx_rings) == 24 && offsetof(netmap_if, ni_rx_rings) == 28 &&
              offsetof(netmap_if, ni_bufs_head) == 32 && offsetof(netmap_if, ni_host_tx_rings) == 36 &&
              offsetof(netmap_if, ni_host_rx_rings) == 40 && offsetof(netmap_if, ni_spare1) == 44);
static_assert(sizeof(ssize_t) == sizeof(int64_t));  // ring_ofs[] entries
#else
inline constexpr bool kLayoutSupported = false;
#endif

#if defined(__linux__) && (defined(__x86_64__) || defined(__aarch64__))
// The values netmap documents for x86_64 Linux (asm-generic ioctl encoding, shared by aarch64).
static_assert(kNiocGinfo == 0xc03c6991ul);
static_assert(kNiocRegif == 0xc03c6992ul);
static_assert(kNiocTxsync == 0x6994ul);
static_assert(kNiocRxsync == 0x6995ul);
static_assert(kNiocConfig == 0xc1106996ul);
static_assert(kNiocCtrl == 0xc0586997ul);
#endif

}  // namespace nmc::nm
