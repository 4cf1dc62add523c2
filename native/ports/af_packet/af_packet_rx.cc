// AF_PACKET RX: the TPACKET_V3 block ring walked into NS_INDIRECT slots (see af_packet_port.h).
#include "ports/af_packet/af_packet_port.h"

namespace nmc::af_packet {

int AfPacketPort::rxsync() {
  if (closed_) return -EBADF;
  const uint64_t now = rx_.empty() ? 0 : realtime_ns();
  for (size_t k = 0; k < rx_.size(); ++k) {
    Ring& r = rx_[k];
    RxQueue& q = rxq_[k];
    if (int rc = sync_prologue(r, q.seen_head, "rxsync"); rc < 0) return fail_errno(rc);
    q.released += ring_dist(r, q.seen_head, r.head);
    q.seen_head = r.head;
    release_blocks(q);
    int rc = walk(r, q);
    if (rc < 0) return rc;
    release_blocks(q);  // blocks that held no packet for us
    r.ts_ns = now;
  }
  return 0;
}

void AfPacketPort::open_rx() {
  const uint32_t nq = opts_.queue >= 0 ? 1 : iface_.rx_queues;
  fanout_ = nq > 1;
  vlan_reinsert_ = info_.link_type == 1;
  qm_offset_ = iface_.driver == "veth" ? 0 : 1;
  uint32_t nblocks = kRxDefaultBlocks;
  uint32_t nslots = nblocks * kRxPacketsPerBlock60 + 1;
  if (opts_.rx_slots) {
    nslots = opts_.rx_slots;
    nblocks = std::clamp((nslots + kRxPacketsPerBlock60 - 1) / kRxPacketsPerBlock60, kRxMinBlocks, kRxMaxBlocks);
  }
  rx_blocks_ = nblocks;
  // What every RX socket keeps of a packet, and (one queue opened alone) which packets.
  const uint32_t keep = opts_.snaplen ? opts_.snaplen : 0xffffffffu;
  const bool one_queue = opts_.queue >= 0 && iface_.rx_queues > 1;
  const bool need_filter = opts_.snaplen != 0 || one_queue;
  AfPacketFilter final_filter =
      one_queue ? af_packet_keep_filter(keep, iface_.rx_queues, member_of_queue(uint32_t(opts_.queue), iface_.rx_queues))
                : af_packet_keep_filter(keep, 0, 0);
  // A capture filter to come: receive nothing until attach_filter() puts it (or, where the
  // queue filter must stay, final_filter) in place.
  keep_filter_ = need_filter ? final_filter : AfPacketFilter{};
  queue_filter_ = one_queue;
  const bool hold = opts_.filter_pending;
  len_cap_ = uint16_t(std::min<uint32_t>(opts_.snaplen ? opts_.snaplen : 65535u, 65535u));

  rxq_.resize(nq);
  uint32_t fanout_id = 0;
  for (uint32_t m = 0; m < nq; ++m) {
    RxQueue& q = rxq_[m];
    q.queue = fanout_ ? queue_of_member(m, nq) : (opts_.queue >= 0 ? uint32_t(opts_.queue) : 0);
    q.fd = new_socket();
    bind_to(q.fd, 0);
    set_int(q.fd, SOL_PACKET, PACKET_VERSION, TPACKET_V3, "PACKET_VERSION");
    if (vlan_reinsert_) set_int(q.fd, SOL_PACKET, PACKET_RESERVE, int(kVlanReserve), "PACKET_RESERVE");
    tpacket_req3 req{};
    req.tp_block_size = kRxBlockSize;
    req.tp_block_nr = nblocks;
    req.tp_frame_size = kRxBlockSize;  // V3 packets are variable-size; frames only must divide blocks
    req.tp_frame_nr = nblocks;
    req.tp_retire_blk_tov = kRxRetireMs;
    if (::setsockopt(q.fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) < 0) {
      int e = errno;
      if (e == ENOMEM)
        throw PortError(errc::kIo, "af_packet:" + iface_.name + ": cannot allocate a " + mib(size_t(nblocks) * kRxBlockSize) +
                                       " RX ring: ask for fewer rx slots", e);
      throw sys_error("PACKET_RX_RING", e);
    }
    q.map_len = size_t(nblocks) * kRxBlockSize;
    void* p = ::mmap(nullptr, q.map_len, PROT_READ | PROT_WRITE, MAP_SHARED, q.fd, 0);
    if (p == MAP_FAILED) throw sys_error("mmap of the RX ring", errno);
    q.map = static_cast<uint8_t*>(p);
    q.nblocks = nblocks;
    q.end_seq.assign(nblocks, 0);
    q.slots.assign(nslots, Slot{0, 0, NS_INDIRECT, 0});
    q.ts.assign(nslots, 0);
    q.wire.assign(nslots, 0);
    q.dir.assign(nslots, kDirUnknown);

    // Until every member sits in the group, packets could land in the wrong ring: drop them.
    if (fanout_ || hold) {
      AfPacketFilter none = af_packet_reject_all();
      if (int rc = af_packet_attach(q.fd, none); rc < 0) throw sys_error("SO_ATTACH_FILTER", -rc);
    } else if (need_filter) {
      if (int rc = af_packet_attach(q.fd, final_filter); rc < 0) throw sys_error("SO_ATTACH_FILTER", -rc);
    }
    if (m == 0 && opts_.promisc) {
      packet_mreq mr{};
      mr.mr_ifindex = iface_.ifindex;
      mr.mr_type = PACKET_MR_PROMISC;
      if (::setsockopt(q.fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) < 0) {
        int e = errno;
        if (e == EPERM) throw PortError(errc::kPermission, kPermissionMsg, e);
        throw sys_error("promiscuous mode (PACKET_ADD_MEMBERSHIP)", e);
      }
    }
    // Only now start receiving, into the finished ring (libpcap's order).
    bind_to(q.fd, ETH_P_ALL);
    if (fanout_) {
      int arg = int(fanout_id | (uint32_t(PACKET_FANOUT_QM | (m == 0 ? PACKET_FANOUT_FLAG_UNIQUEID : 0)) << 16));
      if (::setsockopt(q.fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof arg) < 0) throw sys_error("PACKET_FANOUT", errno);
      if (m == 0) {
        int got = 0;
        socklen_t len = sizeof got;
        if (::getsockopt(q.fd, SOL_PACKET, PACKET_FANOUT, &got, &len) < 0) throw sys_error("PACKET_FANOUT", errno);
        fanout_id = uint32_t(got) & 0xffff;
      }
    }
  }
  if (fanout_ && !hold) {
    for (RxQueue& q : rxq_) {
      if (need_filter) {
        if (int rc = af_packet_attach(q.fd, final_filter); rc < 0) throw sys_error("SO_ATTACH_FILTER", -rc);
      } else {
        af_packet_detach(q.fd);
      }
    }
  }
  std::sort(rxq_.begin(), rxq_.end(), [](const RxQueue& a, const RxQueue& b) { return a.queue < b.queue; });
  for (RxQueue& q : rxq_) {
    Ring r;
    r.num_slots = nslots;
    r.buf_size = len_cap_;  // the longest slot.len this ring can show
    r.index = q.queue;
    r.is_tx = false;
    r.ts_source = TsSource::kPacketNanos;
    r.slot = q.slots.data();
    r.slot_ts_ns = q.ts.data();
    r.slot_wire_len = q.wire.data();
    r.slot_direction = q.dir.data();
    rx_.push_back(r);
  }
}

// Give blocks back to the kernel, oldest first, once every slot walked from them is released.
void AfPacketPort::release_blocks(RxQueue& q) {
  while (q.nheld > 0) {
    const uint32_t b = q.rel_blk;
    if (q.in_block && b == q.cur_blk) break;
    if (q.end_seq[b] > q.released) break;
    __atomic_store_n(&q.block(b)->hdr.bh1.block_status, uint32_t(TP_STATUS_KERNEL), __ATOMIC_RELEASE);
    q.rel_blk = b + 1 == q.nblocks ? 0 : b + 1;
    --q.nheld;
  }
}

// Fill free slots from blocks the kernel has handed over, in order.
int AfPacketPort::walk(Ring& r, RxQueue& q) {
  uint32_t room = r.num_slots - 1 - ring_space(r);
  uint32_t bytes = 0;  // block bytes walked by this rxsync (see kRxWalkBytes)
  while (room > 0 && bytes < kRxWalkBytes) {
    if (!q.in_block) {
      if (q.nheld == q.nblocks) break;
      uint32_t b = q.rel_blk + q.nheld;
      if (b >= q.nblocks) b -= q.nblocks;
      tpacket_block_desc* bd = q.block(b);
      if (!(__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER)) break;
      ++q.nheld;
      q.cur_blk = b;
      q.pkts_left = bd->hdr.bh1.num_pkts;
      q.next_off = bd->hdr.bh1.offset_to_first_pkt;
      q.fetched = q.next_off & ~63u;
      q.in_block = true;
    }
    if (q.pkts_left == 0) {
      q.end_seq[q.cur_blk] = q.walked;
      q.in_block = false;
      continue;
    }
    uint8_t* blk = reinterpret_cast<uint8_t*>(q.block(q.cur_blk));
    for (const uint32_t ahead = std::min(q.next_off + kRxPrefetchAhead, kRxBlockSize); q.fetched < ahead; q.fetched += 64)
      __builtin_prefetch(blk + q.fetched);
    if (q.next_off < kV3BlockHeader || q.next_off > kRxBlockSize - sizeof(tpacket3_hdr)) return malformed();
    const tpacket3_hdr* h = reinterpret_cast<const tpacket3_hdr*>(blk + q.next_off);
    const uint32_t mac = h->tp_mac, snap = h->tp_snaplen;
    if (mac > kRxBlockSize - q.next_off || snap > kRxBlockSize - q.next_off - mac) return malformed();
    const uint8_t* pkt = blk + q.next_off;
    q.next_off += h->tp_next_offset;
    bytes += mac + snap;
    --q.pkts_left;
    const sockaddr_ll* sll = reinterpret_cast<const sockaddr_ll*>(pkt + TPACKET_ALIGN(sizeof(tpacket3_hdr)));
    const bool outgoing = sll->sll_pkttype == PACKET_OUTGOING;
    // On lo every packet passes twice, as outgoing and as incoming; keep it once (as tcpdump does).
    const bool skip = outgoing && iface_.arphrd == ARPHRD_LOOPBACK;
    if (!skip) {
      uint8_t* frame = const_cast<uint8_t*>(pkt) + mac;
      uint32_t len = snap, wire = h->tp_len;
      if (vlan_reinsert_ && (h->tp_status & TP_STATUS_VLAN_VALID) && snap >= 12 && mac >= kVlanReserve) {
        // The kernel moved the 802.1Q tag out of the frame (it always untags on receive, and
        // offloads do on send); put it back where it was on the wire, as libpcap does.
        const uint16_t tpid =
            (h->tp_status & TP_STATUS_VLAN_TPID_VALID) && h->hv1.tp_vlan_tpid ? h->hv1.tp_vlan_tpid : ETH_P_8021Q;
        const uint16_t tci = uint16_t(h->hv1.tp_vlan_tci);
        std::memmove(frame - kVlanReserve, frame, 12);
        frame -= kVlanReserve;
        frame[12] = uint8_t(tpid >> 8);
        frame[13] = uint8_t(tpid);
        frame[14] = uint8_t(tci >> 8);
        frame[15] = uint8_t(tci);
        len += kVlanReserve;
        wire += kVlanReserve;
      }
      const uint32_t i = r.tail;
      Slot& s = r.slot[i];
      s.buf_idx = 0;
      s.flags = NS_INDIRECT;
      s.len = uint16_t(std::min<uint32_t>(len, len_cap_));
      s.ptr = uint64_t(uintptr_t(frame));
      q.ts[i] = uint64_t(h->tp_sec) * 1000000000ull + h->tp_nsec;
      q.wire[i] = wire;
      q.dir[i] = outgoing ? kDirOutbound : kDirInbound;
      r.tail = ring_next(r, i);
      ++q.walked;
      --room;
    }
    if (q.pkts_left == 0) {
      q.end_seq[q.cur_blk] = q.walked;
      q.in_block = false;
    }
  }
  return 0;
}

int AfPacketPort::malformed() {
  set_end(PortEnd::kError, errc::kIo, "af_packet:" + iface_.name + ": the kernel handed over a malformed RX block");
  end_errno_ = EIO;
  return -EIO;
}

void AfPacketPort::note_rx_error(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err == 0) return;
  if (!rx_fault_) {
    // The kernel still retires the block it was filling within one retire timeout: hand those
    // packets out before saying the port ended.
    rx_fault_ = true;
    rx_fault_errno_ = err;
    rx_fault_deadline_ = monotonic_ns() + uint64_t(3 * kRxRetireMs + 4) * 1000000ull;
  }
}

}  // namespace nmc::af_packet
