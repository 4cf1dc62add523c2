#include "test/js_netmap_test.h"

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "js/js_names.h"
#include "js/js_port.h"
#include "js/js_util.h"
#include "ports/netmap/netmap_abi.h"
#include "ports/netmap/netmap_name.h"
#include "ports/netmap/netmap_rings.h"
#include "ring/walkers.h"

namespace nmc {
namespace {

std::string string_arg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsString())
    throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

Napi::Value ParseName(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = string_arg(info, 0, "name");
  NetmapName n;
  try {
    n = parse_netmap_name(name);
  } catch (const PortError& e) {
    throw port_error(env, e);
  }
  return netmap_name_object(env, n);
}

Napi::Value IsNetmapName(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), is_netmap_name(string_arg(info, 0, "name")));
}

// The request bytes the port would hand to NIOCCTRL: nmreq_header (88) then nmreq_register (56),
// with nr_body still 0 (the port points it at the body just before the ioctl).
Napi::Value RegisterRequest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = string_arg(info, 0, "name");
  OpenOptions opts = parse_open_options(env, info.Length() > 1 ? info[1] : env.Undefined());
  NetmapRegisterRequest rq;
  try {
    rq = make_register_request(parse_netmap_name(name), opts);
  } catch (const PortError& e) {
    throw port_error(env, e);
  }
  Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::New(env, sizeof rq.hdr + sizeof rq.reg);
  std::memcpy(out.Data(), &rq.hdr, sizeof rq.hdr);
  std::memcpy(out.Data() + sizeof rq.hdr, &rq.reg, sizeof rq.reg);
  return out;
}

Napi::Value Layout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  Napi::Object api = Napi::Object::New(env);
  api.Set("version", nm::kApi);
  api.Set("min", nm::kMinApi);
  api.Set("max", nm::kMaxApi);
  o.Set("api", api);

  Napi::Object sizes = Napi::Object::New(env);
  sizes.Set("nmreq_header", double(sizeof(nm::nmreq_header)));
  sizes.Set("nmreq_register", double(sizeof(nm::nmreq_register)));
  sizes.Set("nmreq_option", double(sizeof(nm::nmreq_option)));
  sizes.Set("nmreq_pools_info", double(sizeof(nm::nmreq_pools_info)));
  sizes.Set("nmreq_legacy", double(sizeof(nm::nmreq_legacy)));
  sizes.Set("netmap_slot", double(sizeof(nm::netmap_slot)));
  sizes.Set("netmap_ring", double(sizeof(nm::netmap_ring)));
  sizes.Set("netmap_if", double(sizeof(nm::netmap_if)));
  sizes.Set("timeval", double(sizeof(struct timeval)));
  o.Set("sizes", sizes);

  Napi::Object off = Napi::Object::New(env);
#define NMC_OFF(obj, type, field) obj.Set(#type "." #field, double(offsetof(nm::type, field)))
  NMC_OFF(off, nmreq_header, nr_version);
  NMC_OFF(off, nmreq_header, nr_reqtype);
  NMC_OFF(off, nmreq_header, nr_reserved);
  NMC_OFF(off, nmreq_header, nr_name);
  NMC_OFF(off, nmreq_header, nr_options);
  NMC_OFF(off, nmreq_header, nr_body);
  NMC_OFF(off, nmreq_register, nr_offset);
  NMC_OFF(off, nmreq_register, nr_memsize);
  NMC_OFF(off, nmreq_register, nr_tx_slots);
  NMC_OFF(off, nmreq_register, nr_rx_slots);
  NMC_OFF(off, nmreq_register, nr_tx_rings);
  NMC_OFF(off, nmreq_register, nr_rx_rings);
  NMC_OFF(off, nmreq_register, nr_host_tx_rings);
  NMC_OFF(off, nmreq_register, nr_host_rx_rings);
  NMC_OFF(off, nmreq_register, nr_mem_id);
  NMC_OFF(off, nmreq_register, nr_ringid);
  NMC_OFF(off, nmreq_register, nr_mode);
  NMC_OFF(off, nmreq_register, nr_extra_bufs);
  NMC_OFF(off, nmreq_register, nr_flags);
  NMC_OFF(off, nmreq_option, nro_next);
  NMC_OFF(off, nmreq_option, nro_reqtype);
  NMC_OFF(off, nmreq_option, nro_status);
  NMC_OFF(off, nmreq_option, nro_size);
  NMC_OFF(off, netmap_slot, buf_idx);
  NMC_OFF(off, netmap_slot, len);
  NMC_OFF(off, netmap_slot, flags);
  NMC_OFF(off, netmap_slot, ptr);
  NMC_OFF(off, netmap_ring, buf_ofs);
  NMC_OFF(off, netmap_ring, num_slots);
  NMC_OFF(off, netmap_ring, nr_buf_size);
  NMC_OFF(off, netmap_ring, ringid);
  NMC_OFF(off, netmap_ring, dir);
  NMC_OFF(off, netmap_ring, head);
  NMC_OFF(off, netmap_ring, cur);
  NMC_OFF(off, netmap_ring, tail);
  NMC_OFF(off, netmap_ring, flags);
  NMC_OFF(off, netmap_ring, ts);
  NMC_OFF(off, netmap_ring, offset_mask);
  NMC_OFF(off, netmap_ring, buf_align);
  NMC_OFF(off, netmap_ring, sem);
  NMC_OFF(off, netmap_if, ni_name);
  NMC_OFF(off, netmap_if, ni_version);
  NMC_OFF(off, netmap_if, ni_flags);
  NMC_OFF(off, netmap_if, ni_tx_rings);
  NMC_OFF(off, netmap_if, ni_rx_rings);
  NMC_OFF(off, netmap_if, ni_bufs_head);
  NMC_OFF(off, netmap_if, ni_host_tx_rings);
  NMC_OFF(off, netmap_if, ni_host_rx_rings);
#undef NMC_OFF
  off.Set("netmap_ring.slot", double(nm::kRingHeaderSize));
  off.Set("netmap_if.ring_ofs", double(nm::kIfHeaderSize));
  o.Set("offsets", off);

  Napi::Object io = Napi::Object::New(env);
  io.Set("NIOCGINFO", double(nm::kNiocGinfo));
  io.Set("NIOCREGIF", double(nm::kNiocRegif));
  io.Set("NIOCTXSYNC", double(nm::kNiocTxsync));
  io.Set("NIOCRXSYNC", double(nm::kNiocRxsync));
  io.Set("NIOCCONFIG", double(nm::kNiocConfig));
  io.Set("NIOCCTRL", double(nm::kNiocCtrl));
  o.Set("ioctls", io);

  Napi::Object c = Napi::Object::New(env);
  c.Set("NETMAP_REQ_REGISTER", nm::kReqRegister);
  c.Set("NETMAP_REQ_POOLS_INFO_GET", nm::kReqPoolsInfoGet);
  c.Set("NETMAP_REQ_CSB_ENABLE", nm::kReqCsbEnable);
  c.Set("NETMAP_REQ_OPT_OFFSETS", nm::kOptOffsets);
  c.Set("NR_REG_ALL_NIC", nm::kRegAllNic);
  c.Set("NR_REG_SW", nm::kRegSw);
  c.Set("NR_REG_NIC_SW", nm::kRegNicSw);
  c.Set("NR_REG_ONE_NIC", nm::kRegOneNic);
  c.Set("NR_REG_PIPE_MASTER", nm::kRegPipeMaster);
  c.Set("NR_REG_PIPE_SLAVE", nm::kRegPipeSlave);
  c.Set("NR_REG_NULL", nm::kRegNull);
  c.Set("NR_REG_ONE_SW", nm::kRegOneSw);
  c.Set("NR_MONITOR_TX", double(nm::kFlagMonitorTx));
  c.Set("NR_MONITOR_RX", double(nm::kFlagMonitorRx));
  c.Set("NR_ZCOPY_MON", double(nm::kFlagZcopyMon));
  c.Set("NR_EXCLUSIVE", double(nm::kFlagExclusive));
  c.Set("NR_RX_RINGS_ONLY", double(nm::kFlagRxRingsOnly));
  c.Set("NR_TX_RINGS_ONLY", double(nm::kFlagTxRingsOnly));
  c.Set("NR_ACCEPT_VNET_HDR", double(nm::kFlagAcceptVnetHdr));
  c.Set("NR_DO_RX_POLL", double(nm::kFlagDoRxPoll));
  c.Set("NR_NO_TX_POLL", double(nm::kFlagNoTxPoll));
  c.Set("NR_TIMESTAMP", nm::kRingTimestamp);
  c.Set("NR_FORWARD", nm::kRingForward);
  c.Set("NS_BUF_CHANGED", nm::kSlotBufChanged);
  c.Set("NS_REPORT", nm::kSlotReport);
  c.Set("NS_FORWARD", nm::kSlotForward);
  c.Set("NS_NO_LEARN", nm::kSlotNoLearn);
  c.Set("NS_INDIRECT", nm::kSlotIndirect);
  c.Set("NS_MOREFRAG", nm::kSlotMoreFrag);
  c.Set("NS_TXMON", nm::kSlotTxMon);
  c.Set("NETMAP_RING_MASK", nm::kRingMask);
  c.Set("NETMAP_REQ_IFNAMSIZ", double(nm::kReqIfNamSiz));
  o.Set("constants", c);
  return o;
}

// A memory image in the documented netmap format (netmap_if + rings + buffers) inside a JS
// Buffer, with the backend's ring adapters attached to it. The test plays the kernel: it edits
// the image between push and pull (the `kernel` callback of sync()).
class Region : public Napi::ObjectWrap<Region> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Region",
                       {
                           InstanceMethod<&Region::Rings>("rings"),
                           InstanceMethod<&Region::SetHead>("setHead"),
                           InstanceMethod<&Region::Sync>("sync"),
                           InstanceMethod<&Region::ReadSlot>("readSlot"),
                       });
  }

  // Region(buffer, nifpOffset, poolBufs = 0)
  explicit Region(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Region>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsBuffer() || !info[1].IsNumber())
      throw Napi::TypeError::New(env, "Region(buffer, nifpOffset, poolBufs?)");
    Napi::Buffer<uint8_t> buf = info[0].As<Napi::Buffer<uint8_t>>();
    buf_ = Napi::Persistent(buf.As<Napi::Object>());
    base_ = buf.Data();
    uint64_t ofs = uint64_t(info[1].As<Napi::Number>().Int64Value());
    uint32_t pool = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().Uint32Value() : 0;
    try {
      set_ = attach_netmap_rings(base_, buf.Length(), ofs, pool);
    } catch (const PortError& e) {
      throw port_error(env, e);
    }
  }

 private:
  std::vector<Ring>& rings_of(Napi::Env env, const Napi::Value& v) {
    std::string kind = v.ToString().Utf8Value();
    if (kind == "tx") return set_.tx;
    if (kind == "rx") return set_.rx;
    throw Napi::TypeError::New(env, "ring kind must be 'tx' or 'rx'");
  }
  Ring& ring_arg(const Napi::CallbackInfo& info) {
    std::vector<Ring>& rs = rings_of(info.Env(), info[0]);
    double i = info[1].ToNumber().DoubleValue();
    if (!(i >= 0 && i < double(rs.size()))) throw Napi::RangeError::New(info.Env(), "no such ring");
    return rs[size_t(i)];
  }

  Napi::Value Rings(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    for (const char* kind : {"tx", "rx"}) {
      std::vector<Ring>& rs = std::string(kind) == "tx" ? set_.tx : set_.rx;
      Napi::Array arr = Napi::Array::New(env, rs.size());
      for (size_t i = 0; i < rs.size(); ++i) {
        const Ring& r = rs[i];
        Napi::Object x = ring_state_object(env, r);
        x.Set("isTx", r.is_tx);
        x.Set("tsSource", ts_source_name(r.ts_source));
        x.Set("numBufs", r.num_bufs);
        x.Set("slotOffset", double(reinterpret_cast<uint8_t*>(r.slot) - base_));
        x.Set("bufOffset", double(r.buf_base - base_));
        arr.Set(uint32_t(i), x);
      }
      o.Set(kind, arr);
    }
    o.Set("ifName", set_.if_name);
    o.Set("nicTx", set_.nic_tx);
    o.Set("nicRx", set_.nic_rx);
    o.Set("hostTx", set_.host_tx);
    o.Set("hostRx", set_.host_rx);
    return o;
  }

  // setHead(kind, ring, head, cur = head): what a loop does after consuming or filling slots.
  Napi::Value SetHead(const Napi::CallbackInfo& info) {
    Ring& r = ring_arg(info);
    r.head = info[2].ToNumber().Uint32Value();
    r.cur = info.Length() > 3 && !info[3].IsUndefined() ? info[3].ToNumber().Uint32Value() : r.head;
    return info.Env().Undefined();
  }

  // sync(kind, kernel) -> { rc, why }: the backend's txsync/rxsync sequence with `kernel()` in
  // place of the ioctl. kernel() may edit the image and return a negative errno.
  Napi::Value Sync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string kind = info[0].ToString().Utf8Value();
    if (kind != "tx" && kind != "rx") throw Napi::TypeError::New(env, "ring kind must be 'tx' or 'rx'");
    if (info.Length() < 2 || !info[1].IsFunction()) throw Napi::TypeError::New(env, "sync(kind, kernel)");
    Napi::Function fn = info[1].As<Napi::Function>();
    bool tx = kind == "tx";
    std::string why;
    int rc = netmap_sync(tx ? set_.tx : set_.rx, tx ? set_.ktx : set_.krx,
                         [&] {
                           Napi::Value v = fn.Call(std::vector<napi_value>{});
                           return v.IsNumber() ? v.As<Napi::Number>().Int32Value() : 0;
                         },
                         &why);
    Napi::Object o = Napi::Object::New(env);
    o.Set("rc", rc);
    o.Set("why", why);
    return o;
  }

  // readSlot(kind, ring, slot) -> the slot's bytes as the loops see them, or null for a buffer
  // index outside the region.
  Napi::Value ReadSlot(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Ring& r = ring_arg(info);
    double i = info[2].ToNumber().DoubleValue();
    if (!(i >= 0 && i < r.num_slots)) throw Napi::RangeError::New(env, "slot index out of range");
    uint32_t len = 0;
    const uint8_t* p = slot_view(r, uint32_t(i), &len);
    if (!p) return env.Null();
    return Napi::Buffer<uint8_t>::Copy(env, p, len);
  }

  Napi::ObjectReference buf_;  // keeps the image alive (and in place) while adapters point into it
  uint8_t* base_ = nullptr;
  NetmapRingSet set_;
};

}  // namespace

Napi::Object NetmapTestExports(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("parseName", Napi::Function::New(env, ParseName, "parseName"));
  o.Set("isNetmapName", Napi::Function::New(env, IsNetmapName, "isNetmapName"));
  o.Set("registerRequest", Napi::Function::New(env, RegisterRequest, "registerRequest"));
  o.Set("layout", Napi::Function::New(env, Layout, "layout"));
  o.Set("Region", Region::Init(env));
  return o;
}

}  // namespace nmc
