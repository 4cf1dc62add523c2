// Small helpers shared by the JS-facing files of the addon.
#pragma once

#include <napi.h>

#include <cstdint>
#include <optional>
#include <string>

#include "ring/port.h"

namespace nmc {

// A JS Error carrying a stable `code` (and `errno` when a syscall failed).
inline Napi::Error coded_error(Napi::Env env, const char* code, const std::string& message, int sys_errno = 0) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  if (sys_errno != 0) err.Set("errno", Napi::Number::New(env, sys_errno));
  return err;
}

inline Napi::Error port_error(Napi::Env env, const PortError& e) {
  return coded_error(env, e.code(), e.what(), e.sys_errno());
}

inline Napi::Value optional_u64(Napi::Env env, const std::optional<uint64_t>& v) {
  if (!v) return env.Null();
  return Napi::BigInt::New(env, *v);
}

// Reads an optional numeric option from an options object.
inline uint32_t opt_u32(const Napi::Object& o, const char* key, uint32_t dflt) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return dflt;
  if (!v.IsNumber()) throw Napi::TypeError::New(o.Env(), std::string("option ") + key + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (d < 0 || d > 4294967295.0 || d != double(uint64_t(d)))
    throw Napi::RangeError::New(o.Env(), std::string("option ") + key + " must be a non-negative integer");
  return uint32_t(d);
}

inline double opt_f64(const Napi::Object& o, const char* key, double dflt) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return dflt;
  if (!v.IsNumber()) throw Napi::TypeError::New(o.Env(), std::string("option ") + key + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

inline bool opt_bool(const Napi::Object& o, const char* key, bool dflt) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return dflt;
  return v.ToBoolean().Value();
}

inline const char* ts_source_name(TsSource s) {
  switch (s) {
    case TsSource::kSyncMicros: return "sync-us";
    case TsSource::kSyncNanos: return "sync-ns";
    case TsSource::kPacketNanos: return "packet-ns";
    default: return "none";
  }
}

// A ring's user-visible state (what Port.ring() returns), the one place that spells it out.
inline Napi::Object ring_state_object(Napi::Env env, const Ring& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("index", r.index);
  o.Set("numSlots", r.num_slots);
  o.Set("bufSize", r.buf_size);
  o.Set("head", r.head);
  o.Set("cur", r.cur);
  o.Set("tail", r.tail);
  o.Set("flags", r.flags);
  o.Set("space", ring_space(r));
  o.Set("tsNs", Napi::BigInt::New(env, r.ts_ns));
  return o;
}

inline const char* port_end_name(PortEnd e) {
  switch (e) {
    case PortEnd::kPeerClosed: return "peer-closed";
    case PortEnd::kPeerDied: return "peer-died";
    case PortEnd::kGone: return "gone";
    case PortEnd::kError: return "error";
    default: return "none";
  }
}

// Runs a thread-safe function's call_js hook (deliver: makes the event's values and calls JS). A
// JS exception goes on to JS as it would have; but at exit, while Node tears the environment down
// and runs no more JS, an event still queued (a reader thread's last word) is dropped: an
// exception escaping the hook would otherwise end the process in std::terminate.
template <class Deliver>
inline void deliver_js_event(Deliver&& deliver) {
  try {
    deliver();
  } catch (const Napi::Error& e) {
    try {
      e.ThrowAsJavaScriptException();
    } catch (const Napi::Error&) {
      // JS cannot run any more: nobody is left to hear the event
    }
  }
}

}  // namespace nmc
