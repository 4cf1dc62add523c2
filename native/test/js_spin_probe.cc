#include "test/js_spin_probe.h"

#include <thread>

#include "loops/histogram.h"
#include "loops/sender_thread.h"
#include "ring/clock.h"

namespace nmc {

namespace {

struct ProbeResult {
  LatencyHistogram error;   // each ideal departure: when the clock was read minus its deadline
  uint64_t stalls = 0;      // clock reads more than 10 us apart
  uint64_t stalled_ns = 0;  // the time between those reads
  uint64_t max_gap_ns = 0;
  SenderThreadState placed;
};

// An ideal paced sender: the schedule is k * 1e9 / rate; every clock read departs all packets due
// by then, as the replay loop's burst does, and costs nothing else.
void probe(const SenderPlacement& where, uint64_t rate, uint64_t duration_ns, ProbeResult* out) {
  out->placed = place_sender_thread(where);
  const uint64_t t0 = monotonic_ns();
  uint64_t k = 0, prev = t0;
  for (;;) {
    const uint64_t now = monotonic_ns();
    const uint64_t gap = now - prev;
    prev = now;
    if (gap > out->max_gap_ns) out->max_gap_ns = gap;
    if (gap > 10000) ++out->stalls, out->stalled_ns += gap;
    const uint64_t rel = now - t0;
    if (rel >= duration_ns) break;
    for (;;) {
      const uint64_t due = uint64_t((unsigned __int128)k * 1000000000u / rate);
      if (due > rel) break;
      out->error.record(rel - due);
      ++k;
    }
  }
}

}  // namespace

// spinProbe({ ratePps, durationMs, realtime, cpu }) -> { departures, p50Ns, p99Ns, p999Ns, maxNs,
// stalls, stalledNs, maxGapNs, policy, cpus, realtimeError, cpuError }. Blocks the caller for the
// duration (a benchmark tool, not for the event loop of a real program).
Napi::Value SpinProbe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = info[0].As<Napi::Object>();
  auto num = [&](const char* k, double d) { return o.Has(k) ? o.Get(k).ToNumber().DoubleValue() : d; };
  SenderPlacement where;
  where.realtime = o.Has("realtime") && o.Get("realtime").ToBoolean().Value();
  where.cpu = int(num("cpu", -1));
  const uint64_t rate = uint64_t(num("ratePps", 1e6));
  const uint64_t duration_ns = uint64_t(num("durationMs", 2000) * 1e6);
  if (rate == 0) {
    Napi::RangeError::New(env, "spinProbe: ratePps must be positive").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  ProbeResult r;
  std::thread t(probe, where, rate, duration_ns, &r);
  t.join();
  auto n = [&](uint64_t v) { return Napi::Number::New(env, double(v)); };
  Napi::Object res = Napi::Object::New(env);
  res.Set("departures", n(r.error.count()));
  res.Set("p50Ns", n(r.error.quantile(0.50)));
  res.Set("p99Ns", n(r.error.quantile(0.99)));
  res.Set("p999Ns", n(r.error.quantile(0.999)));
  res.Set("maxNs", n(r.error.max()));
  res.Set("stalls", n(r.stalls));
  res.Set("stalledNs", n(r.stalled_ns));
  res.Set("maxGapNs", n(r.max_gap_ns));
  res.Set("policy", Napi::String::New(env, r.placed.policy));
  Napi::Array cpus = Napi::Array::New(env, r.placed.cpus.size());
  for (size_t i = 0; i < r.placed.cpus.size(); ++i) cpus.Set(uint32_t(i), n(uint64_t(r.placed.cpus[i])));
  res.Set("cpus", cpus);
  res.Set("realtimeError", Napi::String::New(env, r.placed.realtime_error));
  res.Set("cpuError", Napi::String::New(env, r.placed.cpu_error));
  return res;
}

}  // namespace nmc
