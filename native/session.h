// What capture and replay sessions share: a native thread running a loop, the stop signal that
// ends it, and registration with the addon so a cleanup hook can stop and join every thread
// when the environment goes away (process exit, worker termination).
#pragma once

#include <napi.h>

#include <mutex>
#include <set>
#include <thread>

#include "stop_signal.h"

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
