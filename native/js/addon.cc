// The nmcap addon: ports (netmap's ring API over every backend), and the capture and replay
// sessions whose loops run on native threads.
#include <napi.h>

#include <cstring>
#include <vector>

#include "js/js_capture.h"
#include "js/js_direct_file.h"
#include "test/js_netmap_test.h"
#include "loops/pacing.h"
#include "loops/pcapng_epb.h"
#include "js/js_port.h"
#include "js/js_replay.h"
#include "js/session.h"

namespace nmc {

namespace {

// At environment teardown (process exit, worker end) no loop may outlive the environment:
// stop every live session and join its thread.
void cleanup_sessions(void* arg) {
  auto* data = static_cast<AddonData*>(arg);
  std::vector<NativeSession*> live;
  {
    std::lock_guard<std::mutex> lk(data->m);
    live.assign(data->live.begin(), data->live.end());
  }
  for (NativeSession* s : live) s->stop_and_join();
}

// encodeEpb(iface, tsUnits: bigint, data, wireLen): the native capture's EPB bytes, so tests
// can compare them with src/pcap's encoder.
Napi::Value EncodeEpb(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t iface = info[0].ToNumber().Uint32Value();
  bool lossless;
  uint64_t ts = info[1].As<Napi::BigInt>().Uint64Value(&lossless);
  Napi::Uint8Array data = info[2].As<Napi::Uint8Array>();
  uint32_t wire = info[3].ToNumber().Uint32Value();
  uint32_t caplen = uint32_t(data.ByteLength());
  Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::New(env, epb_size(caplen));
  epb_begin(out.Data(), iface, ts, caplen, wire);
  std::memcpy(out.Data() + 28, data.Data(), caplen);
  epb_finish(out.Data(), caplen);
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

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  env.SetInstanceData(data);  // deleted by node after the cleanup hooks ran
  napi_add_env_cleanup_hook(env, cleanup_sessions, data);

  Napi::Function port = JsPort::Init(env);
  data->port_ctor = Napi::Persistent(port);
  exports.Set("Port", port);
  exports.Set("CaptureSession", JsCaptureSession::Init(env));
  exports.Set("ReplaySession", JsReplaySession::Init(env));
  exports.Set("DirectFile", JsDirectFile::Init(env));
  exports.Set("encodeEpb", Napi::Function::New(env, EncodeEpb, "encodeEpb"));
  exports.Set("ppsDeadlines", Napi::Function::New(env, PpsDeadlines, "ppsDeadlines"));
  exports.Set("netmapTest", NetmapTestExports(env));  // kernel-free parts of the netmap backend
  return exports;
}

}  // namespace nmc

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return nmc::Init(env, exports); }
NODE_API_MODULE(nmcap, InitModule)
