#include "js/js_port.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "js/js_filter.h"
#include "js/js_names.h"
#include "js/js_util.h"
#include "ring/walkers.h"

namespace nmc {

Direction parse_direction(Napi::Env env, const Napi::Value& v, Direction dflt) {
  if (v.IsUndefined() || v.IsNull()) return dflt;
  std::string s = v.ToString().Utf8Value();
  if (s == "rx") return Direction::kRx;
  if (s == "tx") return Direction::kTx;
  if (s == "both") return Direction::kBoth;
  throw Napi::TypeError::New(env, "direction must be 'rx', 'tx' or 'both'");
}

OpenOptions parse_open_options(Napi::Env env, const Napi::Value& v) {
  OpenOptions o;
  if (v.IsUndefined() || v.IsNull()) return o;
  if (!v.IsObject()) throw Napi::TypeError::New(env, "port options must be an object");
  Napi::Object obj = v.As<Napi::Object>();
  o.direction = parse_direction(env, obj.Get("direction"), Direction::kBoth);
  o.promisc = opt_bool(obj, "promisc", true);
  o.rx_slots = opt_u32(obj, "rxSlots", 0);
  o.tx_slots = opt_u32(obj, "txSlots", 0);
  o.buf_size = opt_u32(obj, "bufSize", 0);
  o.snaplen = opt_u32(obj, "snaplen", 0);
  Napi::Value q = obj.Get("queue");
  o.queue = (q.IsUndefined() || q.IsNull()) ? -1 : int(opt_u32(obj, "queue", 0));
  o.tx_budget = opt_u32(obj, "txBudget", 0);
  o.zero_copy = opt_bool(obj, "zeroCopy", false);
  o.filter_pending = opt_bool(obj, "filterPending", false);
  return o;
}

Napi::Function JsPort::Init(Napi::Env env) {
  return DefineClass(env, "Port",
                     {
                         InstanceMethod<&JsPort::Info>("info"),
                         InstanceMethod<&JsPort::RingState>("ring"),
                         InstanceMethod<&JsPort::SetHead>("setHead"),
                         InstanceMethod<&JsPort::SlotState>("slot"),
                         InstanceMethod<&JsPort::SetSlot>("setSlot"),
                         InstanceMethod<&JsPort::ReadBuf>("readBuf"),
                         InstanceMethod<&JsPort::WriteBuf>("writeBuf"),
                         InstanceMethod<&JsPort::TxSync>("txsync"),
                         InstanceMethod<&JsPort::RxSync>("rxsync"),
                         InstanceMethod<&JsPort::Wait>("wait"),
                         InstanceMethod<&JsPort::Fd>("fd"),
                         InstanceMethod<&JsPort::Counters>("counters"),
                         InstanceMethod<&JsPort::AttachFilter>("attachFilter"),
                         InstanceMethod<&JsPort::End>("end"),
                         InstanceMethod<&JsPort::TxPending>("txPending"),
                         InstanceMethod<&JsPort::Inject>("inject"),
                         InstanceMethod<&JsPort::Receive>("receive"),
                         InstanceMethod<&JsPort::ReceiveBatch>("receiveBatch"),
                         InstanceMethod<&JsPort::Close>("close"),
                     });
}

JsPort::JsPort(const Napi::CallbackInfo& info) : Napi::ObjectWrap<JsPort>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "Port(name, options?): name must be a string");
  OpenOptions opts = parse_open_options(env, info.Length() > 1 ? info[1] : env.Undefined());
  try {
    port_ = std::shared_ptr<Port>(open_port(info[0].As<Napi::String>().Utf8Value(), opts));
  } catch (const PortError& e) {
    throw port_error(env, e);
  }
}

JsPort::~JsPort() {
  // A session may still hold the port; it closes it when its thread is done.
  if (port_ && !busy_) port_->close();
}

Port& JsPort::checked(Napi::Env env) {
  if (!port_) throw coded_error(env, "ERR_PORT_CLOSED", "port is closed");
  if (busy_) throw coded_error(env, "ERR_PORT_BUSY", "port is in use by a capture or replay session");
  return *port_;
}

Ring& JsPort::ring_arg(const Napi::CallbackInfo& info, size_t at) {
  Napi::Env env = info.Env();
  Port& p = checked(env);
  std::string kind = info[at].ToString().Utf8Value();
  std::vector<Ring>* rings = kind == "tx" ? &p.tx_rings() : kind == "rx" ? &p.rx_rings() : nullptr;
  if (!rings) throw Napi::TypeError::New(env, "ring kind must be 'tx' or 'rx'");
  double idx = info[at + 1].ToNumber().DoubleValue();
  if (!(idx >= 0 && idx < double(rings->size()))) throw Napi::RangeError::New(env, "no such " + kind + " ring");
  return (*rings)[size_t(idx)];
}

Napi::Value JsPort::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!port_) throw coded_error(env, "ERR_PORT_CLOSED", "port is closed");
  const PortInfo& pi = port_->info();
  Napi::Object o = Napi::Object::New(env);
  o.Set("name", pi.name);
  o.Set("backend", pi.backend);
  o.Set("ifname", pi.ifname);
  o.Set("description", pi.description);
  o.Set("linkType", pi.link_type);
  o.Set("maxFrame", pi.max_frame);
  o.Set("tsSource", ts_source_name(pi.ts_source));
  o.Set("knowsRxDrops", pi.knows_rx_drops);
  o.Set("knowsRxReceived", pi.knows_rx_received);
  o.Set("mode", pi.mode);
  o.Set("txRings", uint32_t(port_->tx_rings().size()));
  o.Set("rxRings", uint32_t(port_->rx_rings().size()));
  o.Set("fd", port_->fd());
  o.Set("xdp", pi.xdp.present ? Napi::Value(xdp_info_object(env, pi.xdp)) : env.Null());
  return o;
}

Napi::Value JsPort::RingState(const Napi::CallbackInfo& info) {
  return ring_state_object(info.Env(), ring_arg(info, 0));
}

Napi::Value JsPort::SetHead(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Ring& r = ring_arg(info, 0);
  uint32_t head = info[2].ToNumber().Uint32Value();
  uint32_t cur = info.Length() > 3 && !info[3].IsUndefined() ? info[3].ToNumber().Uint32Value() : head;
  if (head >= r.num_slots || cur >= r.num_slots) throw Napi::RangeError::New(env, "head/cur out of range");
  r.head = head;
  r.cur = cur;
  return env.Undefined();
}

static uint32_t slot_index_arg(const Napi::CallbackInfo& info, const Ring& r, size_t at) {
  double i = info[at].ToNumber().DoubleValue();
  if (!(i >= 0 && i < r.num_slots)) throw Napi::RangeError::New(info.Env(), "slot index out of range");
  return uint32_t(i);
}

Napi::Value JsPort::SlotState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Ring& r = ring_arg(info, 0);
  Slot& s = r.slot[slot_index_arg(info, r, 2)];
  Napi::Object o = Napi::Object::New(env);
  o.Set("bufIdx", s.buf_idx);
  o.Set("len", s.len);
  o.Set("flags", s.flags);
  return o;
}

Napi::Value JsPort::SetSlot(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Ring& r = ring_arg(info, 0);
  Slot& s = r.slot[slot_index_arg(info, r, 2)];
  Napi::Object o = info[3].As<Napi::Object>();
  uint32_t len = opt_u32(o, "len", s.len);
  if (len > r.buf_size) throw Napi::RangeError::New(env, "len exceeds the buffer size");
  s.len = uint16_t(len);
  s.flags = uint16_t(opt_u32(o, "flags", s.flags));
  return env.Undefined();
}

// A slot of a shared ring failed its check: the port ends (ERR_PORT_PROTOCOL) and JS gets that
// error; a slot of a trusted ring that fails is refused alone.
static Napi::Error slot_error(Napi::Env env, Port& p, const Ring& r, const std::string& why) {
  if (r.untrusted) {
    p.protocol_violation(why);
    return coded_error(env, p.error_code(), p.error());
  }
  return coded_error(env, errc::kIo, why);
}

Napi::Value JsPort::ReadBuf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Ring& r = ring_arg(info, 0);
  uint32_t i = slot_index_arg(info, r, 2);
  uint32_t len = 0;
  SlotFault f;
  const uint8_t* data = slot_view(r, i, &len, &f);
  if (!data) throw slot_error(env, *port_, r, slot_fault_text(r, i, load_slot(r.slot[i]), f));
  return Napi::Buffer<uint8_t>::Copy(env, data, len);
}

Napi::Value JsPort::WriteBuf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Ring& r = ring_arg(info, 0);
  uint32_t i = slot_index_arg(info, r, 2);
  if (!info[3].IsTypedArray()) throw Napi::TypeError::New(env, "data must be a Uint8Array");
  Napi::Uint8Array data = info[3].As<Napi::Uint8Array>();
  if (data.ByteLength() > tx_slot_capacity(r)) throw Napi::RangeError::New(env, "data larger than the slot buffer");
  const Slot s = load_slot(r.slot[i]);
  Slot as_buf = s;
  as_buf.flags &= uint16_t(~NS_INDIRECT);  // written into the slot's buffer, whatever its flags
  if (SlotFault f = check_slot(r, as_buf, false); f != SlotFault::kNone)
    throw slot_error(env, *port_, r, slot_fault_text(r, i, s, f));
  std::memcpy(r.buf(s.buf_idx), data.Data(), data.ByteLength());
  r.slot[i].len = uint16_t(data.ByteLength());
  return env.Undefined();
}

static void throw_sync_failure(Napi::Env env, Port& p, int rc, const char* what) {
  std::string msg = p.error().empty() ? std::string(what) + " failed: " + std::strerror(-rc) : p.error();
  const char* code = *p.error_code() ? p.error_code() : errc::kIo;
  throw coded_error(env, code, msg, -rc);
}

Napi::Value JsPort::TxSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Port& p = checked(env);
  int rc = p.txsync();
  if (rc < 0) throw_sync_failure(env, p, rc, "txsync");
  return env.Undefined();
}

Napi::Value JsPort::RxSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Port& p = checked(env);
  int rc = p.rxsync();
  if (rc < 0) throw_sync_failure(env, p, rc, "rxsync");
  return env.Undefined();
}

Napi::Value JsPort::Wait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Port& p = checked(env);
  unsigned events = info[0].ToNumber().Uint32Value();
  int timeout = info.Length() > 1 ? info[1].ToNumber().Int32Value() : 0;
  int rc = p.wait(events, timeout, -1);
  if (rc < 0 && p.end() == PortEnd::kPeerClosed) return Napi::String::New(env, "closed");
  if (rc < 0) throw_sync_failure(env, p, rc, "wait");
  return Napi::String::New(env, rc == kWaitReady ? "ready" : rc == kWaitWoken ? "woken" : "timeout");
}

Napi::Value JsPort::Fd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), checked(info.Env()).fd()); }

Napi::Value JsPort::Counters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!port_) throw coded_error(env, "ERR_PORT_CLOSED", "port is closed");
  PortCounters c = port_->counters();
  Napi::Object o = Napi::Object::New(env);
  o.Set("rxReceived", optional_u64(env, c.rx_received));
  o.Set("rxDrops", optional_u64(env, c.rx_drops));
  o.Set("rxRingFull", optional_u64(env, c.rx_ring_full));
  return o;
}

// attachFilter(program): true if the backend now filters in the kernel, false if the capture
// loop must run the program (pass it as the session's `filter`).
Napi::Value JsPort::AttachFilter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Port& p = checked(env);
  std::vector<BpfInsn> prog = checked_program(env, info[0]);
  try {
    return Napi::Boolean::New(env, p.attach_filter(prog));
  } catch (const PortError& e) {
    throw port_error(env, e);
  }
}

Napi::Value JsPort::End(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!port_) throw coded_error(env, "ERR_PORT_CLOSED", "port is closed");
  Napi::Object o = Napi::Object::New(env);
  o.Set("end", port_end_name(port_->end()));
  o.Set("code", port_->error_code());
  o.Set("message", port_->error());
  return o;
}

Napi::Value JsPort::TxPending(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(checked(info.Env()).tx_pending_total()));
}

// Like libnetmap's nmport_inject: copy one packet into the first TX ring with room, advance
// head = cur. No sync. Returns false when no TX ring has room for it. The replay loop's TX
// walker (tx_put): a port that takes fragments gets a larger packet over several slots.
Napi::Value JsPort::Inject(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Port& p = checked(env);
  if (!info[0].IsTypedArray()) throw Napi::TypeError::New(env, "inject(data): data must be a Uint8Array");
  Napi::Uint8Array data = info[0].As<Napi::Uint8Array>();
  const bool frag = p.info().tx_fragments;
  for (Ring& r : p.tx_rings()) {
    // Only what the slots can hold is refused here: a frame the link cannot carry is the
    // backend's to refuse at txsync, as for any slot the user filled.
    std::string fault;
    switch (tx_put(r, data.Data(), uint32_t(std::min<size_t>(data.ByteLength(), UINT32_MAX)), frag, &fault)) {
      case TxPut::kOk:
        return Napi::Boolean::New(env, true);
      case TxPut::kNoRoom:
        continue;
      case TxPut::kTooBig:
        throw coded_error(env, "ERR_PACKET_TOO_BIG", "packet of " + std::to_string(data.ByteLength()) +
                                                          " bytes does not fit " + (frag ? "the ring's" : "a") + " " +
                                                          std::to_string(tx_slot_capacity(r)) + "-byte slot" + (frag ? "s" : ""));
      case TxPut::kFault:
        p.protocol_violation(fault);
        throw coded_error(env, p.error_code(), p.error());
    }
  }
  return Napi::Boolean::New(env, false);
}

// Copy out up to `max` received packets from all RX rings (no sync), releasing their slots:
// the capture loop's RX walker, NS_MOREFRAG chains joined, an incomplete chain left in the ring.
Napi::Value JsPort::Receive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Port& p = checked(env);
  uint32_t max = info.Length() > 0 ? info[0].ToNumber().Uint32Value() : 0xffffffffu;
  Napi::Array out = Napi::Array::New(env);
  uint32_t n = 0;
  for (Ring& r : p.rx_rings()) {
    RxWalker w(r);
    RxPacket pkt;
    while (n < max) {
      RxWalker::Step step = w.next(pkt);
      if (step == RxWalker::kEnd) break;
      if (step == RxWalker::kFault) {
        w.release();  // what was read so far stays read
        // Packets taken before the fault are returned; the next call meets the fault first.
        Napi::Error err = slot_error(env, p, r, w.fault_text());
        if (n > 0) return out;
        throw err;
      }
      Napi::Buffer<uint8_t> data = Napi::Buffer<uint8_t>::New(env, size_t(pkt.len));
      w.copy(data.Data(), pkt.len);
      w.consume();
      Napi::Object o = Napi::Object::New(env);
      o.Set("ring", r.index);
      o.Set("data", data);
      o.Set("tsNs", Napi::BigInt::New(env, pkt.ts_ns));
      o.Set("wireLen", Napi::Number::New(env, double(pkt.wire_len)));
      out.Set(n++, o);
    }
    w.release();
  }
  return out;
}

// A typed array of T holding a copy of v.
template <typename Array, typename T>
static Array typed_copy(Napi::Env env, const std::vector<T>& v) {
  Array a = Array::New(env, v.size());
  if (!v.empty()) std::memcpy(a.Data(), v.data(), v.size() * sizeof(T));
  return a;
}

// receive() in one batch, for callers that take many packets: the same RX walker and fault rule,
// but the packets' bytes back to back in ONE Buffer, and per packet an entry in typed arrays
// (offset, length, wireLen, tsNs, ring) instead of a Buffer and an object each. The walker's
// fragments are copied once, as they are found, so the shared slots are read only once.
Napi::Value JsPort::ReceiveBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Port& p = checked(env);
  uint32_t max = info.Length() > 0 && !info[0].IsUndefined() ? info[0].ToNumber().Uint32Value() : 0xffffffffu;
  auto bytes = new std::vector<uint8_t>();
  std::vector<uint32_t> offset, length, wire_len, ring;
  std::vector<uint64_t> ts_ns;
  std::string fault;
  const Ring* fault_ring = nullptr;
  for (Ring& r : p.rx_rings()) {
    RxWalker w(r);
    RxPacket pkt;
    while (offset.size() < max) {
      RxWalker::Step step = w.next(pkt);
      if (step == RxWalker::kEnd) break;
      if (step == RxWalker::kFault) {
        fault = w.fault_text();
        fault_ring = &r;
        break;
      }
      const size_t at = bytes->size();
      // Offsets are 32-bit: a batch ends before it would pass 4 GiB (the rest waits in the ring).
      if (at + pkt.len > UINT32_MAX) break;
      bytes->resize(at + size_t(pkt.len));
      w.copy(bytes->data() + at, pkt.len);
      w.consume();
      offset.push_back(uint32_t(at));
      length.push_back(uint32_t(pkt.len));
      wire_len.push_back(uint32_t(std::min<uint64_t>(pkt.wire_len, UINT32_MAX)));
      ts_ns.push_back(pkt.ts_ns);
      ring.push_back(r.index);
    }
    w.release();  // what was read stays read
    if (fault_ring) break;
  }
  if (fault_ring) {
    // Packets taken before the fault are returned; the next call meets the fault first.
    Napi::Error err = slot_error(env, p, *fault_ring, fault);
    if (offset.empty()) {
      delete bytes;
      throw err;
    }
  }
  Napi::Buffer<uint8_t> buf;
  if (bytes->empty()) {
    delete bytes;
    buf = Napi::Buffer<uint8_t>::New(env, 0);
  } else {
    // The bytes are handed over, not copied again (unless the runtime refuses external buffers).
    buf = Napi::Buffer<uint8_t>::NewOrCopy(env, bytes->data(), bytes->size(),
                                           [](Napi::Env, uint8_t*, std::vector<uint8_t>* v) { delete v; }, bytes);
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("count", Napi::Number::New(env, double(offset.size())));
  o.Set("data", buf);
  o.Set("offset", typed_copy<Napi::Uint32Array>(env, offset));
  o.Set("length", typed_copy<Napi::Uint32Array>(env, length));
  o.Set("wireLen", typed_copy<Napi::Uint32Array>(env, wire_len));
  o.Set("tsNs", typed_copy<Napi::BigUint64Array>(env, ts_ns));
  o.Set("ring", typed_copy<Napi::Uint32Array>(env, ring));
  return o;
}

Napi::Value JsPort::Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (busy_) throw coded_error(env, "ERR_PORT_BUSY", "port is in use by a capture or replay session");
  if (port_) port_->close();
  port_.reset();
  return env.Undefined();
}

}  // namespace nmc
