// JS class `TraceFeed`: the native reader of a streamed replay (loops/trace_feed.h), attached to
// a ReplaySession before it starts. JS opens each file and adds its fd in replay order; the
// reader thread walks the records and feeds the session's loop; link types, warnings, errors and
// the end of each file come back as events.
#pragma once

#include <napi.h>

#include <memory>

#include "loops/trace_feed.h"

namespace nmc {

class JsTraceFeed : public Napi::ObjectWrap<JsTraceFeed>, public TraceFeedEvents {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit JsTraceFeed(const Napi::CallbackInfo& info);
  ~JsTraceFeed() override;

  // TraceFeedEvents (reader thread)
  void file_started(uint32_t token, uint16_t link_type) override;
  void problem(uint32_t token, bool is_error, const TraceProblem& p) override;
  void file_done(uint32_t token, uint64_t packets) override;

 private:
  struct Event;
  static void CallJs(Napi::Env env, Napi::Function cb, JsTraceFeed* self, Event* ev);

  Napi::Value Add(const Napi::CallbackInfo& info);
  Napi::Value Finish(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  void close();

  using Tsfn = Napi::TypedThreadSafeFunction<JsTraceFeed, Event, CallJs>;
  Tsfn tsfn_;
  bool closed_ = false;
  Napi::ObjectReference session_ref_;
  std::shared_ptr<TraceFeed> feed_;
};

// The walk of one file as the reader thread does it, for tests: traceWalk(fd, chunkBytes).
Napi::Value TraceWalkForTest(const Napi::CallbackInfo& info);

}  // namespace nmc
