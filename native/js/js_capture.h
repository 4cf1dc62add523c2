// JS class `CaptureSession`: runs the capture loop on a native thread over a Port, filling
// JS-supplied buffers with EPBs and handing them back through a thread-safe function.
#pragma once

#include <napi.h>

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "loops/capture_loop.h"
#include "loops/file_prealloc.h"
#include "js/session.h"

namespace nmc {

class JsCaptureSession : public JsSession<JsCaptureSession>, public CaptureSink {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit JsCaptureSession(const Napi::CallbackInfo& info);
  ~JsCaptureSession() override;

  // CaptureSink (capture thread)
  OutBuffer* take_buffer(StopSignal& stop) override;
  void deliver(OutBuffer* buf, size_t used, size_t last_at, const CaptureProgress& progress) override;
  void request_stop() override;

 private:
  struct Event;
  static void CallJs(Napi::Env env, Napi::Function cb, JsCaptureSession* self, Event* ev);

  Napi::Value Supply(const Napi::CallbackInfo& info);
  Napi::Value Recycle(const Napi::CallbackInfo& info);
  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value Stop(const Napi::CallbackInfo& info);

  using Tsfn = Napi::TypedThreadSafeFunction<JsCaptureSession, Event, CallJs>;
  Tsfn tsfn_;
  CaptureConfig cfg_;
  std::vector<std::unique_ptr<OutBuffer>> buffers_;
  std::vector<Napi::ObjectReference> buffer_refs_;
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<OutBuffer*> free_;
  int prealloc_fd_ = -1;
  uint64_t prealloc_from_ = 0;
  std::unique_ptr<FilePreallocator> prealloc_;
};

}  // namespace nmc
