// AF_PACKET TX: the TPACKET_V2 frame ring behind the TX slots (see af_packet_port.h).
#include "ports/af_packet/af_packet_port.h"

namespace nmc::af_packet {

int AfPacketPort::txsync() {
  if (closed_) return -EBADF;
  if (tx_.empty()) return 0;
  Ring& r = tx_[0];
  TxState& t = tx_state_;
  if (int rc = sync_prologue(r, t.seen_head, "txsync"); rc < 0) return fail_errno(rc);
  for (uint32_t i = t.seen_head; i != r.head; i = ring_next(r, i)) {
    int rc = hand_over(r, i);
    if (rc < 0) return rc;
  }
  t.seen_head = r.head;
  skip_taken(r);
  if (t.unsent != r.head && end() == PortEnd::kNone) {
    int rc = kick();
    if (rc < 0) return rc;
    skip_taken(r);
  }
  // Give back the prefix of pending frames the kernel has finished with.
  while (ring_next(r, r.tail) != r.head) {
    uint32_t j = ring_next(r, r.tail);
    if (t.status(j) & (TP_STATUS_SEND_REQUEST | TP_STATUS_SENDING)) break;
    r.tail = j;
  }
  return 0;
}

void AfPacketPort::open_tx() {
  TxState& t = tx_state_;
  t.frame_size = std::max(kTxMinFrameSize, next_pow2(kTxDataOffset + max_frame_ + 4));
  t.block_size = std::max(kTxMinBlockSize, t.frame_size);
  const uint32_t per_block = t.block_size / t.frame_size;
  uint32_t want = opts_.tx_slots;
  if (want == 0)
    want = uint32_t(std::max<size_t>(per_block, std::min<size_t>(kTxDefaultFrames, kTxDefaultMaxBytes / t.frame_size)));
  const uint32_t nblocks = (want + per_block - 1) / per_block;  // the kernel wants whole blocks
  t.nframes = nblocks * per_block;
  if (size_t(t.nframes) * t.frame_size > kTxMaxBytes)
    throw PortError(errc::kUnsupported, "af_packet TX ring of " + std::to_string(t.nframes) + " x " +
                                            std::to_string(t.frame_size) + "-byte frames is over 1 GiB: ask for fewer tx slots");

  t.fd = new_socket();
  bind_to(t.fd, 0);  // protocol 0: a TX-only socket never runs packet_rcv
  set_int(t.fd, SOL_PACKET, PACKET_VERSION, TPACKET_V2, "PACKET_VERSION");
  set_int(t.fd, SOL_PACKET, PACKET_LOSS, 1, "PACKET_LOSS");  // a bad frame is skipped, not a stall
  // An AF_PACKET socket cannot choose its TX queue. With PACKET_QDISC_BYPASS the kernel picks it
  // per packet (packet_pick_tx_queue): the driver's ndo_select_queue if it has one, else XPS for
  // the sending CPU, else the sending CPU modulo the real TX queue count. So N sockets (nmreplay
  // --threads N) spread over queues only as their threads spread over CPUs, and a thread that
  // stays on one CPU keeps its socket's packets on one queue, in the order they were put (pin the
  // threads with --cpu 0,1 to be sure of both).
  int one = 1;
  bypass_ = ::setsockopt(t.fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one) == 0;
  // Frames in flight are charged to the socket's send buffer; let the whole ring be in flight.
  int sndbuf = int(std::min<size_t>(size_t(INT_MAX) / 2, size_t(t.nframes) * 2048));
  if (::setsockopt(t.fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf) < 0)
    ::setsockopt(t.fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);  // capped by wmem_max
  tpacket_req req{};
  req.tp_block_size = t.block_size;
  req.tp_block_nr = nblocks;
  req.tp_frame_size = t.frame_size;
  req.tp_frame_nr = t.nframes;
  if (::setsockopt(t.fd, SOL_PACKET, PACKET_TX_RING, &req, sizeof req) < 0) {
    int e = errno;
    if (e == ENOMEM)
      throw PortError(errc::kIo, "af_packet:" + iface_.name + ": cannot allocate a " +
                                     mib(size_t(t.nframes) * t.frame_size) + " TX ring: ask for fewer tx slots", e);
    throw sys_error("PACKET_TX_RING", e);
  }
  t.map_len = size_t(t.nframes) * t.frame_size;
  void* p = ::mmap(nullptr, t.map_len, PROT_READ | PROT_WRITE, MAP_SHARED, t.fd, 0);
  if (p == MAP_FAILED) throw sys_error("mmap of the TX ring", errno);
  t.map = static_cast<uint8_t*>(p);
  t.slots.resize(t.nframes);
  for (uint32_t i = 0; i < t.nframes; ++i) t.slots[i] = Slot{i, 0, 0, 0};

  Ring r;
  r.num_slots = t.nframes;
  r.buf_size = t.frame_size - kTxDataOffset;
  r.buf_stride = t.frame_size;
  r.buf_base = t.map + kTxDataOffset;
  r.num_bufs = t.nframes;
  r.head = r.cur = 0;
  r.tail = t.nframes - 1;
  r.index = 0;
  r.is_tx = true;
  r.slot = t.slots.data();
  tx_.push_back(r);
}

// May the kernel send this frame? Refused frames never reach the wire (see hand_over).
bool AfPacketPort::frame_ok(const uint8_t* d, uint32_t len) const {
  if (len < (ll_len_ ? ll_len_ : 1u) || len > max_frame_) return false;
  if (len > iface_.mtu + ll_len_) return d[12] == 0x81 && d[13] == 0x00;  // only 802.1Q tags get 4 more bytes
  return true;
}

int AfPacketPort::hand_over(Ring& r, uint32_t i) {
  TxState& t = tx_state_;
  Slot& s = r.slot[i];
  tpacket2_hdr* h = t.hdr(i);
  uint8_t* data = reinterpret_cast<uint8_t*>(h) + kTxDataOffset;
  uint32_t len = s.len;
  bool ok = true;
  if (s.flags & NS_INDIRECT) {
    ok = s.ptr != 0 && len <= max_frame_;
    if (ok) std::memcpy(data, reinterpret_cast<const void*>(uintptr_t(s.ptr)), len);
  } else if (s.buf_idx != i) {
    set_end(PortEnd::kError, errc::kUnsupported,
            "af_packet TX slots own fixed frames: slot " + std::to_string(i) + " must keep buf_idx " + std::to_string(i) +
                " (copy packets instead of swapping buffers)");
    end_errno_ = EINVAL;
    return -EINVAL;
  }
  // One frame per slot: the frames hold max_frame, so a NS_MOREFRAG chain is a caller's error.
  const bool chained = (s.flags & NS_MOREFRAG) || in_chain_;
  in_chain_ = (s.flags & NS_MOREFRAG) != 0;
  ok = ok && !chained && frame_ok(data, len);
  if (ok) {
    h->tp_len = len;
  } else {
    // The kernel's ring cursor only moves over frames it processed, so a refused frame must
    // still be handed over, in a form the kernel rejects silently (PACKET_LOSS skips it):
    // shorter than the link header for Ethernet framing, one byte over the MTU otherwise.
    ++t.refused;
    h->tp_len = ll_len_ ? 0 : iface_.mtu + 1;
  }
  __atomic_store_n(&h->tp_status, uint32_t(TP_STATUS_SEND_REQUEST), __ATOMIC_RELEASE);
  return 0;
}

// Move `unsent` over frames the kernel has taken (any status but SEND_REQUEST).
void AfPacketPort::skip_taken(const Ring& r) {
  TxState& t = tx_state_;
  while (t.unsent != r.head && t.status(t.unsent) != TP_STATUS_SEND_REQUEST) t.unsent = ring_next(r, t.unsent);
}

int AfPacketPort::kick() {
  if (::sendto(tx_state_.fd, nullptr, 0, MSG_DONTWAIT, nullptr, 0) >= 0) return 0;
  const int e = errno;
  switch (e) {
    case EAGAIN:   // socket send buffer full of frames in flight
    case ENOBUFS:  // the device dropped one; the kernel left it SEND_REQUEST for the next kick
    case EINTR:
      return 0;
    case ENXIO:
    case ENODEV:
    case ENETDOWN:
      return iface_fault(e);
    default:
      set_end(PortEnd::kError, errc::kIo, "af_packet:" + iface_.name + ": sending failed: " + std::strerror(e));
      end_errno_ = e;
      return -e;
  }
}

}  // namespace nmc::af_packet
