// What capture and replay sessions share: a native thread running a loop, the stop signal that
// ends it, and registration with the addon so a cleanup hook can stop and join every thread
// when the environment goes away (process exit, worker termination).
#pragma once

#include <napi.h>

#include <mutex>
#include <set>
#include <thread>

#include "ring/stop_signal.h"

namespace nmc {

class NativeSession;

// Per-environment addon state (napi instance data).
struct AddonData {
  std::mutex m;
  std::set<NativeSession*> live;
  Napi::FunctionReference port_ctor;
};

class NativeSession {
 public:
  virtual ~NativeSession() = default;

  // Ask the loop to stop; it finishes its own way (a capture flushes, a replay drains).
  virtual void request_stop() { stop_.request(); }

  // Stop and wait for the thread. Safe to call more than once, from the JS thread only.
  void stop_and_join() {
    request_stop();
    if (thread_.joinable()) thread_.join();
  }

 protected:
  void register_with(Napi::Env env) {
    data_ = env.GetInstanceData<AddonData>();
    if (data_) {
      std::lock_guard<std::mutex> lk(data_->m);
      data_->live.insert(this);
    }
  }
  void unregister() {
    if (data_) {
      std::lock_guard<std::mutex> lk(data_->m);
      data_->live.erase(this);
      data_ = nullptr;
    }
  }

  StopSignal stop_;
  std::thread thread_;

 private:
  AddonData* data_ = nullptr;
};

}  // namespace nmc

// ---------------------------------------------------------------------------------------------
// The JS side of a session (CaptureSession, ReplaySession): takes over a Port, starts the loop
// thread, and finishes on the JS thread when the loop's end event arrives.
#include <functional>
#include <memory>
#include <string>

#include "js/js_port.h"
#include "js/js_util.h"

namespace nmc {

template <class Self>
class JsSession : public Napi::ObjectWrap<Self>, public NativeSession {
 public:
  explicit JsSession(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Self>(info) {}

 protected:
  // new X(port, config, onEvent): checks the arguments and takes the Port (which must have
  // rings in the direction the loop needs).
  Napi::Object take_port(const Napi::CallbackInfo& info, const char* signature, bool needs_rx) {
    Napi::Env env = info.Env();
    if (info.Length() < 3 || !info[0].IsObject() || !info[1].IsObject() || !info[2].IsFunction())
      throw Napi::TypeError::New(env, signature);
    AddonData* data = env.GetInstanceData<AddonData>();
    Napi::Object port_obj = info[0].As<Napi::Object>();
    if (!port_obj.InstanceOf(data->port_ctor.Value())) throw Napi::TypeError::New(env, "port must be a Port");
    jsport_ = JsPort::Unwrap(port_obj);
    port_ = jsport_->port();
    if (!port_) throw coded_error(env, "ERR_PORT_CLOSED", "port is closed");
    bool has = needs_rx ? !port_->rx_rings().empty() : !port_->tx_rings().empty();
    if (!has)
      throw coded_error(env, errc::kUnsupported,
                        "port " + port_->info().name + " has no " + (needs_rx ? "RX" : "TX") + " ring");
    port_ref_ = Napi::Persistent(port_obj);
    return info[1].As<Napi::Object>();
  }

  // Takes the port exclusively and runs `body` on the session's thread. The object stays alive
  // (Ref) until finish_on_js_thread().
  void launch(Napi::Env env, std::function<void()> body) {
    if (started_) throw Napi::Error::New(env, "already started");
    if (!jsport_->acquire()) throw coded_error(env, errc::kBusy, "port is in use by another session");
    started_ = true;
    register_with(env);
    this->Ref();
    thread_ = std::thread(std::move(body));
  }

  // launch() for a loop whose end is reported through a thread-safe function: `run` returns
  // the end event, which is queued to JS; then the thread lets go of the function.
  template <class Tsfn, class Run>
  void start_loop(Napi::Env env, Tsfn& tsfn, Run run) {
    tsfn.Ref(env);  // before the thread exists: it may end (and Release) at once
    try {
      launch(env, [this, &tsfn, run] {
        auto* ev = run();
        if (tsfn.NonBlockingCall(ev) != napi_ok) delete ev;
        tsfn.Release();
      });
    } catch (...) {
      tsfn.Unref(env);
      throw;
    }
  }

  // Called from the end event, on the JS thread: the loop is done; join it and hand the port back.
  void finish_on_js_thread() {
    if (ended_) return;
    ended_ = true;
    if (thread_.joinable()) thread_.join();
    jsport_->release();
    unregister();
    this->Unref();
  }

  JsPort* jsport_ = nullptr;
  Napi::ObjectReference port_ref_;
  std::shared_ptr<Port> port_;
  bool started_ = false;
  bool ended_ = false;
};

}  // namespace nmc
