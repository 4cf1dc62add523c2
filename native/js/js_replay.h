// JS class `ReplaySession`: runs the replay loop on a native thread over a Port, fed with
// batches of records that src/pcap parsed.
#pragma once

#include <napi.h>

#include <memory>
#include <unordered_map>
#include <vector>

#include "loops/replay_loop.h"
#include "loops/ring_dispatch.h"
#include "loops/trace_feed.h"
#include "js/session.h"

namespace nmc {

class JsReplaySession : public JsSession<JsReplaySession>, public ReplayEvents {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit JsReplaySession(const Napi::CallbackInfo& info);
  ~JsReplaySession() override;

  // ReplayEvents (replay thread)
  void consumed(uint32_t batch_id) override;
  void progress(const ReplayStats& stats) override;
  void request_stop() override;

  // A native reader (js/js_trace_feed.cc) feeding this session; attached before start().
  ReplayInput& input() { return input_; }
  void attach_feed(std::shared_ptr<TraceFeed> feed) { feed_ = std::move(feed); }

 private:
  struct Event;
  static void CallJs(Napi::Env env, Napi::Function cb, JsReplaySession* self, Event* ev);

  Napi::Value Push(const Napi::CallbackInfo& info);
  Napi::Value EndInput(const Napi::CallbackInfo& info);
  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value Stop(const Napi::CallbackInfo& info);
  static Napi::Value TxQueues(const Napi::CallbackInfo& info);
  void release_ring_ports();

  using Tsfn = Napi::TypedThreadSafeFunction<JsReplaySession, Event, CallJs>;
  Tsfn tsfn_;
  ReplayConfig cfg_;
  ReplayInput input_;
  uint32_t next_id_ = 1;
  // Keeps each batch's JS memory alive until the thread gives the batch back (JS thread only).
  std::unordered_map<uint32_t, std::vector<Napi::ObjectReference>> batch_refs_;
  std::shared_ptr<TraceFeed> feed_;  // its batches go back to it, not to JS
  // --threads N: the ports of rings 1..N-1 (ring 0 is the session's port), taken at start().
  std::vector<JsPort*> ring_jsports_;
  std::vector<Napi::ObjectReference> ring_port_refs_;
  std::vector<int> ring_cpus_;
  bool ring_ports_held_ = false;
  std::unique_ptr<RingDispatch> dispatch_;
};

}  // namespace nmc
