#include "js/js_epb_batch.h"

#include <cstdint>
#include <cstring>

#include "loops/pcapng_epb.h"

namespace nmc {

namespace {

template <typename T>
T* data_of(const Napi::Value& v) {
  const auto a = v.As<Napi::TypedArray>();
  return reinterpret_cast<T*>(static_cast<uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset());
}

// The timestamp fast path of src/pcap/writer-pcapng.ts (seconds below 2^32): exact in 64 bits.
constexpr double kMaxFastSec = 4294967296.0;
constexpr uint32_t kNoTimestamp = 0xffffffffu;  // PacketBatch's NO_TIMESTAMP

}  // namespace

// encodeEpbs(src, dataOffset, capLen, origLen, tsSec, tsNsec, from, to, out, at, lim, iface, nano, state)
//   -> the index of the first packet not written (to, or one it leaves to JS: no timestamp, a
//   timestamp outside the fast path, or an EPB that does not fit below lim); state[0] = new at.
Napi::Value EncodeEpbs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto src = info[0].As<Napi::Buffer<uint8_t>>();
  const uint32_t* data_offset = data_of<uint32_t>(info[1]);
  const uint32_t* cap_len = data_of<uint32_t>(info[2]);
  const uint32_t* orig_len = data_of<uint32_t>(info[3]);
  const double* ts_sec = data_of<double>(info[4]);
  const uint32_t* ts_nsec = data_of<uint32_t>(info[5]);
  uint32_t i = info[6].As<Napi::Number>().Uint32Value();
  const uint32_t to = info[7].As<Napi::Number>().Uint32Value();
  const auto out = info[8].As<Napi::Buffer<uint8_t>>();
  size_t at = info[9].As<Napi::Number>().Uint32Value();
  const size_t lim = info[10].As<Napi::Number>().Uint32Value();
  const uint32_t iface = info[11].As<Napi::Number>().Uint32Value();
  const bool nano = info[12].ToBoolean().Value();
  double* state = data_of<double>(info[13]);
  const size_t n_arrays = info[2].As<Napi::TypedArray>().ElementLength();
  if (to > n_arrays || lim > out.Length() || at > lim)
    throw Napi::RangeError::New(env, "encodeEpbs(): range out of bounds");
  const uint8_t* s = src.Data();
  const size_t s_len = src.Length();
  uint8_t* o = out.Data();
  for (; i < to; ++i) {
    const uint32_t nsec = ts_nsec[i];
    const double sec = ts_sec[i];
    if (nsec == kNoTimestamp || !(sec >= 0 && sec < kMaxFastSec)) break;
    const uint32_t cap = cap_len[i];
    const uint32_t off = data_offset[i];
    if (off > s_len || cap > s_len - off) throw Napi::RangeError::New(env, "encodeEpbs(): packet outside its chunk");
    const uint32_t size = epb_size(cap);
    if (size > lim - at) break;
    const uint64_t whole = uint64_t(sec);
    const uint64_t units = nano ? whole * 1000000000u + nsec : whole * 1000000u + nsec / 1000u;
    epb_begin(o + at, iface, units, cap, orig_len[i]);
    std::memcpy(o + at + kEpbHeaderBytes, s + off, cap);
    at += epb_finish(o + at, cap);
  }
  state[0] = double(at);
  return Napi::Number::New(env, i);
}

}  // namespace nmc
