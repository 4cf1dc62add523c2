// JS class `DirectFile`: a capture file written by DirectWriter (O_DIRECT, aligned chunks, its own
// thread). write(buffer, cb) keeps the buffer alive until cb(errno, durableBytes) runs on the JS
// thread; `plainFd` is a buffered descriptor of the same file for the trailer and truncation.
#pragma once

#include <napi.h>

#include <memory>

#include "loops/direct_writer.h"

namespace nmc {

class JsDirectFile : public Napi::ObjectWrap<JsDirectFile> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit JsDirectFile(const Napi::CallbackInfo& info);
  ~JsDirectFile() override;

 private:
  Napi::Value Write(const Napi::CallbackInfo& info);
  Napi::Value Finish(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  std::unique_ptr<DirectWriter> w_;
  Napi::ThreadSafeFunction tsfn_;
  size_t pending_ = 0;
};

}  // namespace nmc
