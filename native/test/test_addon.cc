// nmcap_test.node: hooks for tests only, never shipped with the nmcap addon. It links the same
// static library (nmcap_core) as nmcap.node, so the code under test is the code that ships.
#include <napi.h>

#include <cstring>
#include <string>
#include <vector>

#include "js/js_link_emu.h"
#include "loops/link_emu.h"
#include "loops/pacer.h"
#include "loops/pcapng_epb.h"
#include "js/js_trace_feed.h"
#include "test/js_netmap_test.h"
#include "test/js_spin_probe.h"

namespace nmc {
namespace {

// encodeEpb(iface, tsUnits: bigint, data, wireLen, flags?): the native capture's EPB bytes, so tests
// can compare them with src/pcap's encoder.
Napi::Value EncodeEpb(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t iface = info[0].ToNumber().Uint32Value();
  bool lossless;
  uint64_t ts = info[1].As<Napi::BigInt>().Uint64Value(&lossless);
  Napi::Uint8Array data = info[2].As<Napi::Uint8Array>();
  uint32_t wire = info[3].ToNumber().Uint32Value();
  uint32_t flags = info[4].IsNumber() ? info[4].ToNumber().Uint32Value() : 0;  // epb_flags, 0 = none
  uint32_t caplen = uint32_t(data.ByteLength());
  Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::New(env, epb_size(caplen, flags));
  epb_begin(out.Data(), iface, ts, caplen, wire, flags);
  std::memcpy(out.Data() + kEpbHeaderBytes, data.Data(), caplen);
  epb_finish(out.Data(), caplen, flags);
  return out;
}

// ppsDeadlines(num, den, first, count): the replay schedule's deadlines (ns after start) of
// packets first .. first+count-1 at num/den packets per second, asked for one after another
// as the replay loop does, so tests can check them against exact arithmetic.
Napi::Value PpsDeadlines(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool lossless;
  uint64_t num = info[0].As<Napi::BigInt>().Uint64Value(&lossless);
  uint64_t den = info[1].As<Napi::BigInt>().Uint64Value(&lossless);
  uint64_t first = info[2].As<Napi::BigInt>().Uint64Value(&lossless);
  uint32_t count = info[3].ToNumber().Uint32Value();
  Schedule sched(RateMode::kPps, num, den, 1, 1);
  Napi::BigUint64Array out = Napi::BigUint64Array::New(env, count);
  for (uint32_t i = 0; i < count; ++i) out[i] = sched.deadline(first + i, 0, 0);
  return out;
}
// pacerSimulate(config, len, sec, nsec, passStart): the pacing stage (Pacer::before_put, as the
// replay loop runs it) driven by a simulated sender: every put costs perPacketNs, every sync
// syncNs, every wait ends wakeNs late. Returns each packet's deadline and departure (the sync
// that handed it over, ns after start), and how often the clock was read, so tests can check
// the pps, bps and trace-timing schedules and the flush/wait policy without wall-clock races.
class SimulatedSender {
 public:
  SimulatedSender(Pacer& p, uint64_t per_packet, uint64_t sync, uint64_t wake, size_t n)
      : pacer_(p), per_packet_(per_packet), sync_(sync), wake_(wake), due_(n), departed_(n) {}
  uint64_t clock() {
    ++clock_reads_;
    return t_;
  }
  uint32_t burst_n() const { return burst_n_; }
  uint64_t burst_first_due() const { return burst_n_ ? due_[first_] : 0; }
  void wait(uint64_t until, bool) {
    if (until > t_) t_ = until;
    t_ += wake_;
  }
  bool flush() {
    if (!burst_n_) return true;
    t_ += sync_;
    pacer_.synced(burst_n_, sync_);
    pacer_.saw_clock(clock());
    for (uint32_t i = 0; i < burst_n_; ++i) departed_[first_ + i] = t_;
    ++syncs_;
    if (burst_n_ > burst_max_) burst_max_ = burst_n_;
    first_ += burst_n_;
    burst_n_ = 0;
    return true;
  }
  void put(size_t i, uint64_t due) {
    due_[i] = due;
    ++burst_n_;
    t_ += per_packet_;
  }
  std::vector<uint64_t>& due() { return due_; }
  std::vector<uint64_t>& departed() { return departed_; }
  uint64_t clock_reads() const { return clock_reads_; }
  uint64_t syncs() const { return syncs_; }
  uint32_t burst_max() const { return burst_max_; }

 private:
  Pacer& pacer_;
  uint64_t per_packet_, sync_, wake_;
  uint64_t t_ = 0, clock_reads_ = 0, syncs_ = 0;
  uint32_t burst_n_ = 0, burst_max_ = 0;
  size_t first_ = 0;
  std::vector<uint64_t> due_, departed_;
};

Napi::Value PacerSimulate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object c = info[0].As<Napi::Object>();
  auto num = [&](const char* k, double d) { return c.Has(k) && !c.Get(k).IsUndefined() ? c.Get(k).ToNumber().DoubleValue() : d; };
  std::string mode = c.Get("mode").ToString().Utf8Value();
  PacerConfig pc;
  pc.mode = mode == "pps" ? RateMode::kPps : mode == "bps" ? RateMode::kBps : mode == "multiplier" ? RateMode::kMultiplier : RateMode::kTopspeed;
  pc.rate_num = uint64_t(num("rateNum", 0));
  pc.rate_den = uint64_t(num("rateDen", 1));
  pc.mult_num = uint64_t(num("multNum", 1));
  pc.mult_den = uint64_t(num("multDen", 1));
  pc.burst = uint32_t(num("burst", 0));
  pc.ring_slots = uint32_t(num("ringSlots", 4095));
  Napi::Uint32Array len = info[1].As<Napi::Uint32Array>();
  Napi::Float64Array sec = info[2].As<Napi::Float64Array>();
  Napi::Uint32Array nsec = info[3].As<Napi::Uint32Array>();
  Napi::Uint8Array pass = info[4].As<Napi::Uint8Array>();
  size_t n = len.ElementLength();
  if (sec.ElementLength() < n || nsec.ElementLength() < n || pass.ElementLength() < n)
    throw Napi::RangeError::New(env, "pacerSimulate(): arrays shorter than len");
  Pacer pacer(pc);
  TraceClock trace;
  SimulatedSender s(pacer, uint64_t(num("perPacketNs", 0)), uint64_t(num("syncNs", 0)), uint64_t(num("wakeNs", 0)), n);
  for (size_t i = 0; i < n; ++i) {
    if (pass[i]) trace.pass_start();
    uint64_t due = pacer.due(pc.mode == RateMode::kMultiplier ? trace.rel_ns(sec[i], nsec[i]) : 0);
    pacer.before_put(due, s);
    s.put(i, due);
    pacer.queued(len[i]);
    if (s.burst_n() >= pacer.burst_cap()) s.flush();
  }
  s.flush();
  Napi::Object out = Napi::Object::New(env);
  Napi::Float64Array due = Napi::Float64Array::New(env, n), dep = Napi::Float64Array::New(env, n);
  for (size_t i = 0; i < n; ++i) {
    due[i] = double(s.due()[i]);
    dep[i] = double(s.departed()[i]);
  }
  out.Set("due", due);
  out.Set("departed", dep);
  out.Set("syncs", Napi::Number::New(env, double(s.syncs())));
  out.Set("burstMax", Napi::Number::New(env, s.burst_max()));
  out.Set("clockReads", Napi::Number::New(env, double(s.clock_reads())));
  return out;
}

// linkEmuSchedule(config, offeredNs: BigUint64Array, len: Uint32Array): the link emulation stage
// (loops/link_emu.h) run over packets offered at those times, as the replay loop runs it. Returns
// each packet's departure from the emulated link (ns after start) and whether it was lost.
Napi::Value LinkEmuSchedule(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LinkEmu emu(link_emu_config(info[0].As<Napi::Object>()));
  Napi::BigUint64Array offered = info[1].As<Napi::BigUint64Array>();
  Napi::Uint32Array len = info[2].As<Napi::Uint32Array>();
  size_t n = offered.ElementLength();
  if (len.ElementLength() < n) throw Napi::RangeError::New(env, "linkEmuSchedule(): len is shorter than offeredNs");
  Napi::BigUint64Array at = Napi::BigUint64Array::New(env, n);
  Napi::Uint8Array lost = Napi::Uint8Array::New(env, n);
  for (size_t i = 0; i < n; ++i) {
    LinkEmu::Out o = emu.pass(offered[i], len[i]);
    at[i] = o.at_ns;
    lost[i] = o.lost ? 1 : 0;
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("at", at);
  out.Set("lost", lost);
  out.Set("lostCount", Napi::Number::New(env, double(emu.lost())));
  return out;
}

}  // namespace

Napi::Object InitTest(Napi::Env env, Napi::Object exports) {
  exports.Set("encodeEpb", Napi::Function::New(env, EncodeEpb, "encodeEpb"));
  exports.Set("ppsDeadlines", Napi::Function::New(env, PpsDeadlines, "ppsDeadlines"));
  exports.Set("linkEmuSchedule", Napi::Function::New(env, LinkEmuSchedule, "linkEmuSchedule"));
  exports.Set("pacerSimulate", Napi::Function::New(env, PacerSimulate, "pacerSimulate"));
  exports.Set("spinProbe", Napi::Function::New(env, SpinProbe, "spinProbe"));  // the machine's precision floor
  exports.Set("netmapTest", NetmapTestExports(env));  // kernel-free parts of the netmap backend
  exports.Set("traceWalk", Napi::Function::New(env, TraceWalkForTest, "traceWalk"));  // the native pcap and pcapng walkers
  return exports;
}

}  // namespace nmc

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return nmc::InitTest(env, exports); }
NODE_API_MODULE(nmcap_test, InitModule)
