// JS class `Port`: an open port with netmap's user API (rings, slots, syncs, wait) for scripts and
// tests, and the handle that capture/replay sessions take over.
#pragma once

#include <napi.h>

#include <atomic>
#include <memory>

#include "ring/port.h"

namespace nmc {

class JsPort : public Napi::ObjectWrap<JsPort> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit JsPort(const Napi::CallbackInfo& info);
  ~JsPort() override;

  // For sessions: the port, shared so a native thread keeps it alive, and exclusive use.
  std::shared_ptr<Port> port() const { return port_; }
  bool acquire() { return !busy_.exchange(true); }
  void release() { busy_ = false; }

 private:
  Port& checked(Napi::Env env);
  Ring& ring_arg(const Napi::CallbackInfo& info, size_t at);

  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value RingState(const Napi::CallbackInfo& info);
  Napi::Value SetHead(const Napi::CallbackInfo& info);
  Napi::Value SlotState(const Napi::CallbackInfo& info);
  Napi::Value SetSlot(const Napi::CallbackInfo& info);
  Napi::Value ReadBuf(const Napi::CallbackInfo& info);
  Napi::Value WriteBuf(const Napi::CallbackInfo& info);
  Napi::Value TxSync(const Napi::CallbackInfo& info);
  Napi::Value RxSync(const Napi::CallbackInfo& info);
  Napi::Value Wait(const Napi::CallbackInfo& info);
  Napi::Value Fd(const Napi::CallbackInfo& info);
  Napi::Value Counters(const Napi::CallbackInfo& info);
  Napi::Value AttachFilter(const Napi::CallbackInfo& info);
  Napi::Value End(const Napi::CallbackInfo& info);
  Napi::Value TxPending(const Napi::CallbackInfo& info);
  Napi::Value Inject(const Napi::CallbackInfo& info);
  Napi::Value Receive(const Napi::CallbackInfo& info);
  Napi::Value ReceiveBatch(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  std::shared_ptr<Port> port_;
  std::atomic<bool> busy_{false};
};

// Direction option parsing shared with sessions.
Direction parse_direction(Napi::Env env, const Napi::Value& v, Direction dflt);
OpenOptions parse_open_options(Napi::Env env, const Napi::Value& v);

}  // namespace nmc
