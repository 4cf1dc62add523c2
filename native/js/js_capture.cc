#include "js/js_capture.h"

#include <algorithm>
#include <optional>

#include "js/js_filter.h"
#include "js/js_port.h"
#include "js/js_util.h"

namespace nmc {

struct JsCaptureSession::Event {
  enum Kind { kBatch, kEnd } kind;
  explicit Event(Kind k) : kind(k) {}
  uint32_t id = 0;
  size_t used = 0;
  size_t last_at = 0;
  CaptureProgress progress;
  CaptureResult result;
};

namespace {

const char* end_name(CaptureEnd e) {
  switch (e) {
    case CaptureEnd::kCount: return "count";
    case CaptureEnd::kDuration: return "duration";
    case CaptureEnd::kPeerClosed: return "peer-closed";
    case CaptureEnd::kError: return "error";
    default: return "stopped";
  }
}

void set_progress(Napi::Env env, Napi::Object o, const CaptureProgress& p) {
  o.Set("packets", Napi::Number::New(env, double(p.packets)));
  o.Set("taken", Napi::Number::New(env, double(p.taken)));
  o.Set("wireBytes", Napi::Number::New(env, double(p.wire_bytes)));
  o.Set("truncated", Napi::Number::New(env, double(p.truncated)));
  o.Set("invalid", Napi::Number::New(env, double(p.invalid)));
  o.Set("filtered", Napi::Number::New(env, double(p.filtered)));
  o.Set("firstTsNs", p.first_ts_ns ? Napi::Value(Napi::BigInt::New(env, p.first_ts_ns)) : env.Null());
  o.Set("lastTsNs", p.last_ts_ns ? Napi::Value(Napi::BigInt::New(env, p.last_ts_ns)) : env.Null());
}

// Packets the backend counted as arrived for us (not dropped) that the capture never took: still
// in the rings or the socket when it stopped (after -c, or arriving while it ended). Unknown
// where the backend counts no arrivals.
std::optional<uint64_t> unread(const CaptureResult& r) {
  if (!r.counters.rx_received) return std::nullopt;
  const uint64_t arrived = *r.counters.rx_received - std::min(*r.counters.rx_received, r.counters.rx_drops.value_or(0));
  return arrived - std::min(arrived, r.progress.taken);
}

std::vector<uint32_t> u32_array(Napi::Env env, const Napi::Object& o, const char* key) {
  std::vector<uint32_t> v;
  Napi::Value a = o.Get(key);
  if (a.IsUndefined() || a.IsNull()) return v;
  if (!a.IsArray()) throw Napi::TypeError::New(env, std::string("option ") + key + " must be an array of numbers");
  Napi::Array arr = a.As<Napi::Array>();
  for (uint32_t i = 0; i < arr.Length(); ++i) v.push_back(arr.Get(i).ToNumber().Uint32Value());
  return v;
}

}  // namespace

Napi::Function JsCaptureSession::Init(Napi::Env env) {
  return DefineClass(env, "CaptureSession",
                     {
                         InstanceMethod<&JsCaptureSession::Supply>("supply"),
                         InstanceMethod<&JsCaptureSession::Recycle>("recycle"),
                         InstanceMethod<&JsCaptureSession::Start>("start"),
                         InstanceMethod<&JsCaptureSession::Stop>("stop"),
                     });
}

// new CaptureSession(port, config, onEvent)
JsCaptureSession::JsCaptureSession(const Napi::CallbackInfo& info) : JsSession<JsCaptureSession>(info) {
  Napi::Env env = info.Env();
  Napi::Object c = take_port(info, "CaptureSession(port, config, onEvent)", true);
  cfg_.snaplen = opt_u32(c, "snaplen", 262144);
  if (cfg_.snaplen == 0) cfg_.snaplen = 262144;
  cfg_.count = uint64_t(opt_f64(c, "count", 0));
  cfg_.duration_ns = uint64_t(opt_f64(c, "durationMs", 0) * 1e6);
  cfg_.flush_ms = opt_u32(c, "flushMs", 100);
  cfg_.iface = u32_array(env, c, "ifaces");
  cfg_.ts_div = u32_array(env, c, "tsDivisors");
  cfg_.count_only = c.Get("countOnly").ToBoolean().Value();
  cfg_.count_reads = c.Get("countReads").ToBoolean().Value();
  if (!c.Get("filter").IsUndefined() && !c.Get("filter").IsNull()) cfg_.filter = checked_program(env, c.Get("filter"));
  // The output file, when there is one: kept allocated ahead of what the loop produces.
  prealloc_fd_ = c.Get("preallocateFd").IsNumber() ? c.Get("preallocateFd").As<Napi::Number>().Int32Value() : -1;
  prealloc_from_ = uint64_t(opt_f64(c, "preallocateFrom", 0));

  tsfn_ = Tsfn::New(env, info[2].As<Napi::Function>(), "nmcap-capture", 0, 1, this);
  tsfn_.Unref(env);  // referenced only while the thread runs
}

JsCaptureSession::~JsCaptureSession() {
  stop_and_join();
  if (!started_) tsfn_.Release();
  unregister();
}

Napi::Value JsCaptureSession::Supply(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (started_) throw Napi::Error::New(env, "supply() buffers before start()");
  if (!info[0].IsBuffer()) throw Napi::TypeError::New(env, "supply(buffer): a Buffer");
  Napi::Buffer<uint8_t> b = info[0].As<Napi::Buffer<uint8_t>>();
  if (b.Length() < 65536) throw Napi::RangeError::New(env, "capture buffers must hold at least 64 KiB");
  auto ob = std::make_unique<OutBuffer>();
  ob->data = b.Data();
  ob->capacity = b.Length();
  ob->id = uint32_t(buffers_.size());
  free_.push_back(ob.get());
  buffers_.push_back(std::move(ob));
  buffer_refs_.push_back(Napi::Persistent(b.As<Napi::Object>()));
  return Napi::Number::New(env, buffers_.back()->id);
}

Napi::Value JsCaptureSession::Recycle(const Napi::CallbackInfo& info) {
  uint32_t id = info[0].ToNumber().Uint32Value();
  if (id >= buffers_.size()) throw Napi::RangeError::New(info.Env(), "no such buffer");
  {
    std::lock_guard<std::mutex> lk(m_);
    free_.push_back(buffers_[id].get());
  }
  cv_.notify_one();
  return info.Env().Undefined();
}

Napi::Value JsCaptureSession::Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (buffers_.empty()) throw Napi::Error::New(env, "supply() at least one buffer before start()");
  if (prealloc_fd_ >= 0) prealloc_ = std::make_unique<FilePreallocator>(prealloc_fd_, prealloc_from_);
  start_loop(env, tsfn_, [this] {
    CaptureResult res = run_capture(*port_, cfg_, *this, stop_);
    auto* ev = new Event(Event::kEnd);
    ev->result = std::move(res);
    return ev;
  });
  return env.Undefined();
}

void JsCaptureSession::request_stop() {
  stop_.request();
  cv_.notify_all();
}

Napi::Value JsCaptureSession::Stop(const Napi::CallbackInfo& info) {
  request_stop();
  return info.Env().Undefined();
}

OutBuffer* JsCaptureSession::take_buffer(StopSignal& stop) {
  std::unique_lock<std::mutex> lk(m_);
  cv_.wait(lk, [&] { return !free_.empty() || stop.requested(); });
  if (free_.empty()) return nullptr;
  OutBuffer* b = free_.front();
  free_.pop_front();
  return b;
}

void JsCaptureSession::deliver(OutBuffer* buf, size_t used, size_t last_at, const CaptureProgress& progress) {
  if (prealloc_) prealloc_->produced(used);
  auto* ev = new Event(Event::kBatch);
  ev->id = buf->id;
  ev->used = used;
  ev->last_at = last_at;
  ev->progress = progress;
  if (tsfn_.NonBlockingCall(ev) != napi_ok) delete ev;
}

void JsCaptureSession::CallJs(Napi::Env env, Napi::Function cb, JsCaptureSession* self, Event* ev) {
  std::unique_ptr<Event> owned(ev);
  if (!env || !self) return;  // environment going away
  Napi::Object o = Napi::Object::New(env);
  if (ev->kind == Event::kBatch) {
    o.Set("id", ev->id);
    o.Set("bytes", Napi::Number::New(env, double(ev->used)));
    o.Set("lastAt", Napi::Number::New(env, double(ev->last_at)));
    set_progress(env, o, ev->progress);
    cb.Call({Napi::String::New(env, "batch"), o});
    return;
  }
  const CaptureResult& r = ev->result;
  o.Set("reason", end_name(r.end));
  o.Set("code", r.error_code);
  o.Set("message", r.error);
  set_progress(env, o, r.progress);
  o.Set("rxReceived", optional_u64(env, r.counters.rx_received));
  o.Set("rxDrops", optional_u64(env, r.counters.rx_drops));
  o.Set("rxRingFull", optional_u64(env, r.counters.rx_ring_full));
  o.Set("rxUnread", optional_u64(env, unread(r)));
  self->finish_on_js_thread();
  self->prealloc_.reset();  // stopped before JS trims and closes the file
  cb.Call({Napi::String::New(env, "end"), o});
}

}  // namespace nmc
