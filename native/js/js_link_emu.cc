#include "js/js_link_emu.h"

#include <cmath>
#include <string>

namespace nmc {

namespace {

// A whole number of ns (or bytes, or a rate's terms) below 2^53, as src/replay/link-emu.ts sends them.
uint64_t whole(const Napi::Object& o, const char* key, uint64_t dflt) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return dflt;
  double d = v.ToNumber().DoubleValue();
  if (!(d >= 0) || d > 9007199254740991.0 || d != std::floor(d))
    throw Napi::RangeError::New(o.Env(), std::string("link emulation: ") + key + " must be a whole number >= 0");
  return uint64_t(d);
}

}  // namespace

LinkEmuConfig link_emu_config(const Napi::Object& o) {
  Napi::Env env = o.Env();
  LinkEmuConfig c;
  Napi::Value dv = o.Get("delay");
  if (dv.IsObject()) {
    Napi::Object d = dv.As<Napi::Object>();
    std::string kind = d.Get("kind").ToString().Utf8Value();
    c.delay_min_ns = whole(d, "minNs", 0);
    if (kind == "constant") c.delay = DelayKind::kConstant;
    else if (kind == "uniform") c.delay = DelayKind::kUniform, c.delay_max_ns = whole(d, "maxNs", c.delay_min_ns);
    else if (kind == "exponential") c.delay = DelayKind::kExponential, c.delay_mean_ns = whole(d, "meanNs", c.delay_min_ns);
    else throw Napi::TypeError::New(env, "link emulation: delay.kind must be constant, uniform or exponential");
    if (c.delay == DelayKind::kUniform && c.delay_max_ns < c.delay_min_ns)
      throw Napi::RangeError::New(env, "link emulation: delay maxNs is below minNs");
    if (c.delay == DelayKind::kExponential && c.delay_mean_ns < c.delay_min_ns)
      throw Napi::RangeError::New(env, "link emulation: delay meanNs is below minNs");
  }
  Napi::Value lv = o.Get("loss");
  if (lv.IsObject()) {
    Napi::Object l = lv.As<Napi::Object>();
    std::string kind = l.Get("kind").ToString().Utf8Value();
    if (kind == "packet") c.loss = LossKind::kPacket;
    else if (kind == "bit") c.loss = LossKind::kBit;
    else throw Napi::TypeError::New(env, "link emulation: loss.kind must be packet or bit");
    c.loss_rate = l.Get("rate").ToNumber().DoubleValue();
    if (!(c.loss_rate >= 0 && c.loss_rate <= 1)) throw Napi::RangeError::New(env, "link emulation: loss rate must be in [0, 1]");
  }
  Napi::Value bv = o.Get("bandwidth");
  if (bv.IsObject()) {
    Napi::Object b = bv.As<Napi::Object>();
    c.bw_num = whole(b, "num", 0);
    c.bw_den = whole(b, "den", 1);
    c.bw_overhead = uint32_t(whole(b, "overheadBytes", 0));
    if (c.bw_num == 0 || c.bw_den == 0) throw Napi::RangeError::New(env, "link emulation: bandwidth must be positive");
  }
  Napi::Value sv = o.Get("seed");
  if (sv.IsBigInt()) {
    bool lossless;
    c.seed = sv.As<Napi::BigInt>().Uint64Value(&lossless);
  } else {
    c.seed = whole(o, "seed", 0);
  }
  return c;
}

Napi::Object sender_object(Napi::Env env, const SenderThreadState& s) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("tid", s.tid);
  o.Set("policy", s.policy);
  o.Set("priority", s.priority);
  Napi::Array cpus = Napi::Array::New(env, s.cpus.size());
  for (size_t i = 0; i < s.cpus.size(); ++i) cpus.Set(uint32_t(i), s.cpus[i]);
  o.Set("cpus", cpus);
  o.Set("realtimeError", s.realtime_error.empty() ? env.Null() : Napi::String::New(env, s.realtime_error));
  o.Set("cpuError", s.cpu_error.empty() ? env.Null() : Napi::String::New(env, s.cpu_error));
  return o;
}

}  // namespace nmc
