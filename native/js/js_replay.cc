#include "js/js_replay.h"

#include <cstring>

#include "js/js_link_emu.h"
#include "js/js_port.h"
#include "js/js_util.h"

namespace nmc {

struct JsReplaySession::Event {
  enum Kind { kConsumed, kProgress, kEnd } kind;
  explicit Event(Kind k) : kind(k) {}
  uint32_t id = 0;
  ReplayStats stats;
  ReplayResult result;
  std::vector<RingReport> rings;  // --threads N: each ring's part
};

namespace {

const char* end_name(ReplayEnd e) {
  switch (e) {
    case ReplayEnd::kLimit: return "limit";
    case ReplayEnd::kDuration: return "duration";
    case ReplayEnd::kStopped: return "stopped";
    case ReplayEnd::kPeerClosed: return "peer-closed";
    case ReplayEnd::kError: return "error";
    default: return "done";
  }
}

Napi::Object stats_object(Napi::Env env, const ReplayStats& s) {
  auto num = [&](uint64_t v) { return Napi::Number::New(env, double(v)); };
  Napi::Object o = Napi::Object::New(env);
  o.Set("queued", num(s.queued));
  o.Set("queuedBytes", num(s.queued_bytes));
  o.Set("sent", num(s.sent));
  o.Set("sentBytes", num(s.sent_bytes));
  o.Set("failed", num(s.failed));
  o.Set("truncated", num(s.truncated));
  o.Set("unconvertible", num(s.unconvertible));
  o.Set("pending", num(s.pending));
  o.Set("syncs", num(s.syncs));
  o.Set("burstMax", num(s.burst_max));
  o.Set("loopsDone", num(s.loops_done));
  o.Set("inputWaits", num(s.input_waits));
  o.Set("ringFullWaits", num(s.ring_full_waits));
  o.Set("ringFullNs", num(s.ring_full_ns));
  // Durations, all from the first departure: until the last hand-over, and until the end
  // (the last packet had left).
  // Nothing departed: no span at all (not "since boot").
  const bool started = s.start_ns != 0;
  o.Set("sendNs", num(started && s.last_sync_ns > s.start_ns ? s.last_sync_ns - s.start_ns : 0));
  o.Set("durationNs", num(started && s.end_ns > s.start_ns ? s.end_ns - s.start_ns : 0));
  o.Set("threadCpuNs", num(s.thread_cpu_ns));
  o.Set("waitCpuNs", num(s.wait_cpu_ns));
  o.Set("sleepCpuNs", num(s.sleep_cpu_ns));
  o.Set("preemptions", num(s.preemptions));
  o.Set("emuDropped", num(s.emu_dropped));
  if (s.departure.count()) {
    Napi::Object d = Napi::Object::New(env);
    d.Set("count", num(s.departure.count()));
    d.Set("meanNs", Napi::Number::New(env, s.departure.mean()));
    d.Set("p50Ns", num(s.departure.quantile(0.50)));
    d.Set("p90Ns", num(s.departure.quantile(0.90)));
    d.Set("p99Ns", num(s.departure.quantile(0.99)));
    d.Set("p999Ns", num(s.departure.quantile(0.999)));
    d.Set("maxNs", num(s.departure.max()));
    o.Set("departure", d);
  } else {
    o.Set("departure", env.Null());
  }
  return o;
}

uint64_t u64_opt(const Napi::Object& o, const char* key, uint64_t dflt) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return dflt;
  if (v.IsBigInt()) {
    bool lossless;
    return v.As<Napi::BigInt>().Uint64Value(&lossless);
  }
  double d = v.ToNumber().DoubleValue();
  if (!(d >= 0) || d > 18446744073709551615.0) throw Napi::RangeError::New(o.Env(), std::string(key) + " out of range");
  return uint64_t(d);
}

template <typename T>
T typed(const Napi::CallbackInfo& info, size_t at, napi_typedarray_type want, uint32_t count, const char* name) {
  Napi::Env env = info.Env();
  if (!info[at].IsTypedArray() || info[at].As<Napi::TypedArray>().TypedArrayType() != want)
    throw Napi::TypeError::New(env, std::string("push(): ") + name + " has the wrong array type");
  T a = info[at].As<T>();
  if (a.ElementLength() < count) throw Napi::RangeError::New(env, std::string("push(): ") + name + " is shorter than count");
  return a;
}

}  // namespace

Napi::Function JsReplaySession::Init(Napi::Env env) {
  return DefineClass(env, "ReplaySession",
                     {
                         InstanceMethod<&JsReplaySession::Push>("push"),
                         InstanceMethod<&JsReplaySession::EndInput>("endInput"),
                         InstanceMethod<&JsReplaySession::Start>("start"),
                         InstanceMethod<&JsReplaySession::Stop>("stop"),
                         StaticMethod<&JsReplaySession::TxQueues>("txQueues"),
                     });
}

// new ReplaySession(port, config, onEvent)
JsReplaySession::JsReplaySession(const Napi::CallbackInfo& info) : JsSession<JsReplaySession>(info) {
  Napi::Env env = info.Env();
  Napi::Object c = take_port(info, "ReplaySession(port, config, onEvent)", false);
  std::string mode = c.Get("mode").IsUndefined() ? "topspeed" : c.Get("mode").ToString().Utf8Value();
  if (mode == "topspeed") cfg_.mode = RateMode::kTopspeed;
  else if (mode == "pps") cfg_.mode = RateMode::kPps;
  else if (mode == "bps") cfg_.mode = RateMode::kBps;
  else if (mode == "multiplier") cfg_.mode = RateMode::kMultiplier;
  else throw Napi::TypeError::New(env, "mode must be topspeed, pps, bps or multiplier");
  cfg_.rate_num = u64_opt(c, "rateNum", 0);
  cfg_.rate_den = u64_opt(c, "rateDen", 1);
  cfg_.mult_num = u64_opt(c, "multNum", 1);
  cfg_.mult_den = u64_opt(c, "multDen", 1);
  if ((cfg_.mode == RateMode::kPps || cfg_.mode == RateMode::kBps) && (cfg_.rate_num == 0 || cfg_.rate_den == 0))
    throw Napi::RangeError::New(env, "rate must be positive");
  if (cfg_.mode == RateMode::kMultiplier && (cfg_.mult_num == 0 || cfg_.mult_den == 0))
    throw Napi::RangeError::New(env, "multiplier must be positive");
  cfg_.limit = u64_opt(c, "limit", 0);
  cfg_.duration_ns = uint64_t(opt_f64(c, "durationMs", 0) * 1e6);
  cfg_.preload = opt_bool(c, "preload", false);
  cfg_.loops = u64_opt(c, "loops", 1);
  cfg_.burst = opt_u32(c, "burst", 0);
  cfg_.truncate_oversize = opt_bool(c, "truncateOversize", false);
  cfg_.progress_ns = uint64_t(opt_f64(c, "progressMs", 250) * 1e6);
  cfg_.drain_timeout_ns = uint64_t(opt_f64(c, "drainTimeoutMs", 2000) * 1e6);
  cfg_.drain_idle_ns = uint64_t(opt_f64(c, "drainIdleMs", 0) * 1e6);
  auto mac = [&](const char* key, bool* set, uint8_t* dst) {
    Napi::Value v = c.Get(key);
    if (v.IsUndefined() || v.IsNull()) return;
    if (!v.IsTypedArray() || v.As<Napi::Uint8Array>().ByteLength() != 6)
      throw Napi::TypeError::New(env, std::string(key) + " must be 6 bytes");
    std::memcpy(dst, v.As<Napi::Uint8Array>().Data(), 6);
    *set = true;
  };
  mac("dmac", &cfg_.edits.mac.set_dmac, cfg_.edits.mac.dmac);
  mac("smac", &cfg_.edits.mac.set_smac, cfg_.edits.mac.smac);
  if (c.Get("vlanPush").IsNumber()) {
    const int64_t tci = c.Get("vlanPush").ToNumber().Int64Value();
    if (tci < 0 || tci > 0xffff) throw Napi::RangeError::New(env, "vlanPush must be a TCI (0 to 65535)");
    cfg_.edits.vlan = {VlanEdit::kPush, uint16_t(tci)};
  } else if (opt_bool(c, "vlanPop", false)) {
    cfg_.edits.vlan = {VlanEdit::kPop, 0};
  }
  if (c.Get("linkEmu").IsObject()) cfg_.emu = link_emu_config(c.Get("linkEmu").As<Napi::Object>());
  cfg_.placement.realtime = opt_bool(c, "realtime", false);
  if (c.Get("cpu").IsNumber()) cfg_.placement.cpu = c.Get("cpu").ToNumber().Int32Value();
  // --threads N: ringPorts are the Ports of rings 1..N-1 (one TX queue each), ringCpus pins ring k.
  if (c.Get("ringPorts").IsArray()) {
    AddonData* data = env.GetInstanceData<AddonData>();
    Napi::Array a = c.Get("ringPorts").As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) {
      Napi::Value v = a.Get(i);
      if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(data->port_ctor.Value()))
        throw Napi::TypeError::New(env, "ringPorts must be Ports");
      JsPort* jp = JsPort::Unwrap(v.As<Napi::Object>());
      if (!jp->port()) throw coded_error(env, "ERR_PORT_CLOSED", "port is closed");
      if (jp->port()->tx_rings().empty())
        throw coded_error(env, errc::kUnsupported, "port " + jp->port()->info().name + " has no TX ring");
      ring_jsports_.push_back(jp);
      ring_port_refs_.push_back(Napi::Persistent(v.As<Napi::Object>()));
    }
  }
  if (c.Get("ringCpus").IsArray()) {
    Napi::Array a = c.Get("ringCpus").As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) ring_cpus_.push_back(a.Get(i).ToNumber().Int32Value());
  }

  tsfn_ = Tsfn::New(env, info[2].As<Napi::Function>(), "nmcap-replay", 0, 1, this);
  tsfn_.Unref(env);
}

JsReplaySession::~JsReplaySession() {
  stop_and_join();
  if (feed_) feed_->shutdown();  // its reader feeds input_
  if (!started_) tsfn_.Release();
  unregister();
}

// push(data, off, caplen, origlen, sec, nsec, count, loopStart) -> batch id
Napi::Value JsReplaySession::Push(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 8) throw Napi::TypeError::New(env, "push(data, off, caplen, origlen, sec, nsec, count, loopStart)");
  if (ended_) throw Napi::Error::New(env, "replay has ended");
  uint32_t count = info[6].ToNumber().Uint32Value();
  if (!info[0].IsTypedArray()) throw Napi::TypeError::New(env, "push(): data must be a Uint8Array");
  Napi::Uint8Array data = info[0].As<Napi::Uint8Array>();
  auto off = typed<Napi::Uint32Array>(info, 1, napi_uint32_array, count, "off");
  auto cap = typed<Napi::Uint32Array>(info, 2, napi_uint32_array, count, "caplen");
  auto orig = typed<Napi::Uint32Array>(info, 3, napi_uint32_array, count, "origlen");
  auto sec = typed<Napi::Float64Array>(info, 4, napi_float64_array, count, "sec");
  auto nsec = typed<Napi::Uint32Array>(info, 5, napi_uint32_array, count, "nsec");

  ReplayBatch b;
  b.id = next_id_++;
  b.data = data.Data();
  b.data_len = data.ByteLength();
  b.off = off.Data();
  b.caplen = cap.Data();
  b.origlen = orig.Data();
  b.sec = sec.Data();
  b.nsec = nsec.Data();
  b.count = count;
  b.loop_start = info[7].ToBoolean().Value();
  if (info.Length() > 8 && info[8].IsNumber()) b.link_type = uint16_t(info[8].ToNumber().Uint32Value());
  std::vector<Napi::ObjectReference> refs;
  for (size_t i = 0; i < 6; ++i) refs.push_back(Napi::Persistent(info[i].As<Napi::Object>()));
  batch_refs_.emplace(b.id, std::move(refs));
  input_.push(b);
  return Napi::Number::New(env, b.id);
}

Napi::Value JsReplaySession::EndInput(const Napi::CallbackInfo& info) {
  input_.end_input();
  return info.Env().Undefined();
}

// txQueues(port): the TX queues the port's interface has (what --threads N may use).
Napi::Value JsReplaySession::TxQueues(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  AddonData* data = env.GetInstanceData<AddonData>();
  if (info.Length() < 1 || !info[0].IsObject() || !info[0].As<Napi::Object>().InstanceOf(data->port_ctor.Value()))
    throw Napi::TypeError::New(env, "txQueues(port)");
  std::shared_ptr<Port> port = JsPort::Unwrap(info[0].As<Napi::Object>())->port();
  if (!port) throw coded_error(env, "ERR_PORT_CLOSED", "port is closed");
  return Napi::Number::New(env, tx_queues_of(*port));
}

void JsReplaySession::release_ring_ports() {
  if (!ring_ports_held_) return;
  ring_ports_held_ = false;
  for (JsPort* jp : ring_jsports_) jp->release();
}

Napi::Value JsReplaySession::Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!ring_jsports_.empty()) {
    if (started_) throw Napi::Error::New(env, "already started");
    std::vector<std::shared_ptr<Port>> ports{port_};
    for (size_t i = 0; i < ring_jsports_.size(); ++i) {
      if (ring_jsports_[i]->port() == port_ || !ring_jsports_[i]->acquire()) {
        for (size_t j = 0; j < i; ++j) ring_jsports_[j]->release();
        throw coded_error(env, errc::kBusy, "a ring's port is in use by another session");
      }
      ports.push_back(ring_jsports_[i]->port());
    }
    ring_ports_held_ = true;
    dispatch_ = std::make_unique<RingDispatch>(std::move(ports), ring_cpus_);
    try {
      start_loop(env, tsfn_, [this] {
        auto* ev = new Event(Event::kEnd);
        ev->result = dispatch_->run(cfg_, input_, *this, stop_, &ev->rings);
        return ev;
      });
    } catch (...) {
      release_ring_ports();
      throw;
    }
    return env.Undefined();
  }
  start_loop(env, tsfn_, [this] {
    ReplayResult res = run_replay(*port_, cfg_, input_, *this, stop_);
    auto* ev = new Event(Event::kEnd);
    ev->result = std::move(res);
    return ev;
  });
  return env.Undefined();
}

void JsReplaySession::request_stop() {
  stop_.request();
  input_.wake();
  if (dispatch_) dispatch_->wake();
}

Napi::Value JsReplaySession::Stop(const Napi::CallbackInfo& info) {
  request_stop();
  return info.Env().Undefined();
}

void JsReplaySession::consumed(uint32_t batch_id) {
  if (feed_ && feed_->release(batch_id)) return;
  auto* ev = new Event(Event::kConsumed);
  ev->id = batch_id;
  if (tsfn_.NonBlockingCall(ev) != napi_ok) delete ev;
}

void JsReplaySession::progress(const ReplayStats& stats) {
  auto* ev = new Event(Event::kProgress);
  ev->stats = stats;
  if (tsfn_.NonBlockingCall(ev) != napi_ok) delete ev;
}

void JsReplaySession::CallJs(Napi::Env env, Napi::Function cb, JsReplaySession* self, Event* ev) {
  std::unique_ptr<Event> owned(ev);
  if (!env || !self) return;
  deliver_js_event([&] {
    switch (ev->kind) {
      case Event::kConsumed: {
        self->batch_refs_.erase(ev->id);
        cb.Call({Napi::String::New(env, "consumed"), Napi::Number::New(env, ev->id)});
        return;
      }
      case Event::kProgress:
        cb.Call({Napi::String::New(env, "progress"), stats_object(env, ev->stats)});
        return;
      case Event::kEnd: {
        const ReplayResult& r = ev->result;
        Napi::Object o = stats_object(env, r.stats);
        o.Set("reason", end_name(r.end));
        o.Set("code", r.error_code);
        o.Set("message", r.error);
        o.Set("sender", sender_object(env, r.sender));
        if (!ev->rings.empty()) {
          Napi::Array rings = Napi::Array::New(env, ev->rings.size());
          for (uint32_t k = 0; k < ev->rings.size(); ++k) {
            const RingReport& rr = ev->rings[k];
            Napi::Object ro = Napi::Object::New(env);
            ro.Set("ring", k);
            ro.Set("reason", end_name(rr.end));
            ro.Set("queued", double(rr.queued));
            ro.Set("sent", double(rr.sent));
            ro.Set("pending", double(rr.pending));
            ro.Set("failed", double(rr.failed));
            ro.Set("threadCpuNs", double(rr.thread_cpu_ns));
            ro.Set("sender", sender_object(env, rr.sender));
            rings.Set(k, ro);
          }
          o.Set("rings", rings);
        }
        self->finish_on_js_thread();
        self->release_ring_ports();
        self->batch_refs_.clear();
        cb.Call({Napi::String::New(env, "end"), o});
        return;
      }
    }
  });
}

}  // namespace nmc
