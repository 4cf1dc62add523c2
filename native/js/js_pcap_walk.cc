#include "js/js_pcap_walk.h"

#include <cstdint>

#include "loops/trace_feed.h"

namespace nmc {

namespace {

// Slots of the state array shared with JS (src/pcap/native-walk.ts names them the same).
enum StateSlot { kPos = 0, kCount = 1, kNeed = 2, kWarnAt = 3, kStateSlots = 4 };
// What walk() returns: why it stopped.
enum Stop { kStopNeed = 1, kStopFlush = 2, kStopBadCaplen = 3 };

template <typename T>
T* data_of(const Napi::Value& v) {
  return reinterpret_cast<T*>(static_cast<uint8_t*>(v.As<Napi::TypedArray>().ArrayBuffer().Data()) +
                              v.As<Napi::TypedArray>().ByteOffset());
}

}  // namespace

Napi::Value PageOffset(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray()) throw Napi::TypeError::New(env, "pageOffset(buffer)");
  const uintptr_t at = reinterpret_cast<uintptr_t>(data_of<uint8_t>(info[0]));
  return Napi::Number::New(env, double(at % FeedChunk::kPage));
}

Napi::Function JsPcapRecordWalker::Init(Napi::Env env) {
  return DefineClass(env, "PcapRecordWalker", {InstanceMethod<&JsPcapRecordWalker::Walk>("walk", napi_default_method)});
}

JsPcapRecordWalker::JsPcapRecordWalker(const Napi::CallbackInfo& info) : Napi::ObjectWrap<JsPcapRecordWalker>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsBuffer() || !info[1].IsNumber() || !info[2].IsTypedArray())
    throw Napi::TypeError::New(env, "PcapRecordWalker(fileHeader, maxBlockLength, state)");
  auto head = info[0].As<Napi::Buffer<uint8_t>>();
  if (walker_.header(head.Data(), head.Length()) != PcapWalker::Step::kRecord)
    throw Napi::Error::New(env, "PcapRecordWalker: the file header was refused (" + walker_.error().reason + ")");
  walker_.limit_block(info[1].ToNumber().Uint32Value());
  auto state = info[2].As<Napi::TypedArray>();
  if (state.TypedArrayType() != napi_float64_array || state.ElementLength() < kStateSlots)
    throw Napi::TypeError::New(env, "PcapRecordWalker: state must be a Float64Array of 4");
  state_ref_ = Napi::Reference<Napi::Float64Array>::New(state.As<Napi::Float64Array>(), 1);
  state_ = data_of<double>(state);
}

// walk(chunk, pos, end, base, dataOffset, capLen, origLen, tsSec, tsNsec, count, capacity) -> stop.
// Records from chunk[pos, end) go into the arrays from index `count` on; state says where it
// stopped (pos, count, need), the file offset of the first fraction carried into the seconds
// (-1 if none). kStopBadCaplen: the record at state[kPos] claims more than the file allows (JS
// reads the length there and says so in its own words).
Napi::Value JsPcapRecordWalker::Walk(const Napi::CallbackInfo& info) {
  const auto chunk = info[0].As<Napi::Buffer<uint8_t>>();
  const uint8_t* buf = chunk.Data();
  size_t pos = info[1].As<Napi::Number>().Uint32Value();
  const size_t end = info[2].As<Napi::Number>().Uint32Value();
  const uint64_t base = uint64_t(info[3].As<Napi::Number>().DoubleValue());
  uint32_t* data_offset = data_of<uint32_t>(info[4]);
  uint32_t* cap_len = data_of<uint32_t>(info[5]);
  uint32_t* orig_len = data_of<uint32_t>(info[6]);
  double* ts_sec = data_of<double>(info[7]);
  uint32_t* ts_nsec = data_of<uint32_t>(info[8]);
  uint32_t n = info[9].As<Napi::Number>().Uint32Value();
  const uint32_t capacity = info[10].As<Napi::Number>().Uint32Value();
  if (end > chunk.Length() || pos > end || n > capacity || capacity > info[4].As<Napi::TypedArray>().ElementLength())
    throw Napi::RangeError::New(info.Env(), "PcapRecordWalker.walk(): window or capacity out of bounds");
  state_[kWarnAt] = -1;
  const PcapWalker::Step step = walker_.walk(buf, pos, end, base, {data_offset, cap_len, orig_len, ts_sec, ts_nsec}, n, capacity);
  int stop = kStopNeed;
  if (step == PcapWalker::Step::kFull) stop = kStopFlush;
  else if (step == PcapWalker::Step::kError) stop = kStopBadCaplen;  // the only error of a record: its captured length
  else state_[kNeed] = double(walker_.need());
  TraceProblem warning;
  if (walker_.take_warning(warning)) state_[kWarnAt] = double(warning.offset);
  state_[kPos] = double(pos);
  state_[kCount] = double(n);
  return Napi::Number::New(info.Env(), stop);
}

}  // namespace nmc
