#include "js/js_direct_file.h"

#include <cstring>
#include <string>

#include "js/js_util.h"

namespace nmc {

namespace {

// One completed append, carried from the writer thread to the JS thread.
struct Completion {
  Napi::Reference<Napi::Buffer<uint8_t>> buffer;
  Napi::FunctionReference cb;
  int err = 0;
  uint64_t durable = 0;
};

}  // namespace

Napi::Function JsDirectFile::Init(Napi::Env env) {
  return DefineClass(env, "DirectFile",
                     {
                         InstanceMethod<&JsDirectFile::Write>("write"),
                         InstanceMethod<&JsDirectFile::Finish>("finish"),
                         InstanceMethod<&JsDirectFile::Close>("close"),
                     });
}

// new DirectFile(path, chunkBytes, preallocateAheadBytes = 64 MiB): throws with code ERR_DIRECT_UNSUPPORTED where the file system
// refuses O_DIRECT, so the caller can fall back to buffered writes.
JsDirectFile::JsDirectFile(const Napi::CallbackInfo& info) : Napi::ObjectWrap<JsDirectFile>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "DirectFile(path, chunkBytes)");
  size_t chunk = info.Length() > 1 && info[1].IsNumber() ? size_t(info[1].As<Napi::Number>().Int64Value()) : size_t(1) << 20;
  uint64_t ahead = info.Length() > 2 && info[2].IsNumber() ? uint64_t(info[2].As<Napi::Number>().Int64Value()) : uint64_t(64) << 20;
  w_ = std::make_unique<DirectWriter>(chunk, ahead);
  std::string path = info[0].As<Napi::String>().Utf8Value();
  DirectWriter::OpenResult r = w_->open(path);
  if (r != DirectWriter::OpenResult::kOk) {
    int e = w_->open_errno();
    bool memory = w_->memory_fs();
    w_.reset();
    if (r == DirectWriter::OpenResult::kUnsupported)
      throw coded_error(env, "ERR_DIRECT_UNSUPPORTED",
                        memory ? "tmpfs is memory: O_DIRECT would gain nothing" : "the file system does not support O_DIRECT", e);
    throw coded_error(env, "ERR_DIRECT_OPEN", path + ": " + std::strerror(e), e);
  }
  info.This().As<Napi::Object>().Set("plainFd", Napi::Number::New(env, w_->plain_fd()));
  info.This().As<Napi::Object>().Set("chunk", Napi::Number::New(env, double(w_->chunk())));
  tsfn_ = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}), "nmcap-direct-writer", 0, 1);
  tsfn_.Unref(env);  // referenced only while appends are pending
}

JsDirectFile::~JsDirectFile() {
  w_.reset();  // joins the thread
  // Released by close(); at environment teardown Node finalizes a live one itself.
}

// write(buffer, cb(errno, durableBytes))
Napi::Value JsDirectFile::Write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!w_) throw Napi::Error::New(env, "DirectFile is closed");
  if (info.Length() < 2 || !info[0].IsBuffer() || !info[1].IsFunction()) throw Napi::TypeError::New(env, "write(buffer, cb)");
  auto b = info[0].As<Napi::Buffer<uint8_t>>();
  auto* c = new Completion();
  c->buffer = Napi::Persistent(b);
  c->cb = Napi::Persistent(info[1].As<Napi::Function>());
  if (pending_++ == 0) tsfn_.Ref(env);
  w_->append(b.Data(), b.Length(), [this, c](int err, uint64_t durable) {
    c->err = err;
    c->durable = durable;
    tsfn_.NonBlockingCall(c, [this](Napi::Env env, Napi::Function, Completion* c) {
      std::unique_ptr<Completion> owned(c);
      if (--pending_ == 0) tsfn_.Unref(env);
      c->cb.Call({Napi::Number::New(env, c->err), Napi::Number::New(env, double(c->durable))});
    });
  });
  return env.Undefined();
}

// finish(): waits for the appends (blocking; they are done by the time JS calls it) and cuts the
// file to its exact length; returns errno or 0.
Napi::Value JsDirectFile::Finish(const Napi::CallbackInfo& info) {
  if (!w_) return Napi::Number::New(info.Env(), 0);
  return Napi::Number::New(info.Env(), w_->finish());
}

Napi::Value JsDirectFile::Close(const Napi::CallbackInfo& info) {
  if (w_) {
    w_.reset();  // every append has completed: finish() waited for them
    tsfn_.Release();
  }
  return info.Env().Undefined();
}

}  // namespace nmc
