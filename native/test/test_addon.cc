// nmcap_test.node: hooks for tests only, never shipped with the nmcap addon. It links the same
// static library (nmcap_core) as nmcap.node, so the code under test is the code that ships.
#include <napi.h>

#include <cstring>

#include "loops/pacing.h"
#include "loops/pcapng_epb.h"
#include "test/js_netmap_test.h"

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
}  // namespace

Napi::Object InitTest(Napi::Env env, Napi::Object exports) {
  exports.Set("encodeEpb", Napi::Function::New(env, EncodeEpb, "encodeEpb"));
  exports.Set("ppsDeadlines", Napi::Function::New(env, PpsDeadlines, "ppsDeadlines"));
  exports.Set("netmapTest", NetmapTestExports(env));  // kernel-free parts of the netmap backend
  return exports;
}

}  // namespace nmc

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return nmc::InitTest(env, exports); }
NODE_API_MODULE(nmcap_test, InitModule)
