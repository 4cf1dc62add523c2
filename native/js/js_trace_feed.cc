#include "js/js_trace_feed.h"

#include <cstring>
#include <string>
#include <vector>

#include "js/js_replay.h"
#include "js/js_util.h"

namespace nmc {

struct JsTraceFeed::Event {
  enum Kind { kFile, kWarning, kError, kDone } kind;
  uint32_t token = 0;
  uint16_t link_type = 0;
  uint64_t packets = 0;
  TraceProblem problem;
};

namespace {

Napi::Object problem_object(Napi::Env env, uint32_t token, const TraceProblem& p) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("token", token);
  o.Set("code", p.code);
  o.Set("offset", Napi::Number::New(env, double(p.offset)));
  o.Set("reason", p.reason);
  return o;
}

}  // namespace

Napi::Function JsTraceFeed::Init(Napi::Env env) {
  return DefineClass(env, "TraceFeed",
                     {
                         InstanceMethod<&JsTraceFeed::Add>("add"),
                         InstanceMethod<&JsTraceFeed::Finish>("finish"),
                         InstanceMethod<&JsTraceFeed::Close>("close"),
                     });
}

// new TraceFeed(session, onEvent): before session.start(). `session` must be a ReplaySession
// (src/replay/replay.ts is the only caller).
JsTraceFeed::JsTraceFeed(const Napi::CallbackInfo& info) : Napi::ObjectWrap<JsTraceFeed>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsFunction())
    throw Napi::TypeError::New(env, "TraceFeed(session, onEvent)");
  JsReplaySession* session = JsReplaySession::Unwrap(info[0].As<Napi::Object>());
  feed_ = std::make_shared<TraceFeed>(session->input(), *this);
  session->attach_feed(feed_);
  session_ref_ = Napi::Persistent(info[0].As<Napi::Object>());
  tsfn_ = Tsfn::New(env, info[1].As<Napi::Function>(), "nmcap-trace-feed", 0, 1, this);
  tsfn_.Unref(env);
}

JsTraceFeed::~JsTraceFeed() { close(); }

void JsTraceFeed::close() {
  if (closed_) return;
  closed_ = true;
  feed_->shutdown();  // the reader thread calls the tsfn no more
  tsfn_.Release();
}

// add(fd, loopStart, token)
Napi::Value JsTraceFeed::Add(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].ToNumber().Int32Value();
  if (closed_) throw Napi::Error::New(env, "TraceFeed is closed");
  if (fd < 0) throw Napi::RangeError::New(env, "add(): fd must be an open file descriptor");
  feed_->add(fd, info[1].ToBoolean().Value(), info[2].ToNumber().Uint32Value());
  return env.Undefined();
}

Napi::Value JsTraceFeed::Finish(const Napi::CallbackInfo& info) {
  if (!closed_) feed_->finish();
  return info.Env().Undefined();
}

Napi::Value JsTraceFeed::Close(const Napi::CallbackInfo& info) {
  close();
  return info.Env().Undefined();
}

void JsTraceFeed::file_started(uint32_t token, uint16_t link_type) {
  auto* ev = new Event{Event::kFile, token, link_type, 0, {}};
  if (tsfn_.NonBlockingCall(ev) != napi_ok) delete ev;
}

void JsTraceFeed::problem(uint32_t token, bool is_error, const TraceProblem& p) {
  auto* ev = new Event{is_error ? Event::kError : Event::kWarning, token, 0, 0, p};
  if (tsfn_.NonBlockingCall(ev) != napi_ok) delete ev;
}

void JsTraceFeed::file_done(uint32_t token, uint64_t packets) {
  auto* ev = new Event{Event::kDone, token, 0, packets, {}};
  if (tsfn_.NonBlockingCall(ev) != napi_ok) delete ev;
}

void JsTraceFeed::CallJs(Napi::Env env, Napi::Function cb, JsTraceFeed*, Event* ev) {
  std::unique_ptr<Event> owned(ev);
  if (!env) return;
  deliver_js_event([&] {
    switch (ev->kind) {
      case Event::kFile: {
        Napi::Object o = Napi::Object::New(env);
        o.Set("token", ev->token);
        o.Set("linkType", ev->link_type);
        cb.Call({Napi::String::New(env, "file"), o});
        return;
      }
      case Event::kWarning:
        cb.Call({Napi::String::New(env, "warning"), problem_object(env, ev->token, ev->problem)});
        return;
      case Event::kError:
        cb.Call({Napi::String::New(env, "error"), problem_object(env, ev->token, ev->problem)});
        return;
      case Event::kDone: {
        Napi::Object o = Napi::Object::New(env);
        o.Set("token", ev->token);
        o.Set("packets", Napi::Number::New(env, double(ev->packets)));
        cb.Call({Napi::String::New(env, "done"), o});
        return;
      }
    }
  });
}

// --- the test hook ------------------------------------------------------------------------------

namespace {

// Collects what the walk says, on the calling thread.
struct CollectEvents : TraceFeedEvents {
  std::vector<uint16_t> link_types;
  std::vector<std::pair<bool, TraceProblem>> problems;
  uint64_t done = 0;
  void file_started(uint32_t, uint16_t lt) override { link_types.push_back(lt); }
  void problem(uint32_t, bool is_error, const TraceProblem& p) override { problems.emplace_back(is_error, p); }
  void file_done(uint32_t, uint64_t) override { ++done; }
};

}  // namespace

// traceWalk(fd, chunkBytes) -> { linkTypes, linkType (per packet), caplen, origlen, sec, nsec, data (the packets' bytes
// end to end), batches, problems: [{ error, code, offset, reason }], done }
Napi::Value TraceWalkForTest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].ToNumber().Int32Value();
  size_t chunk = info[1].IsNumber() ? size_t(info[1].ToNumber().Uint32Value()) : TraceFeed::kChunkBytes;
  CollectEvents ev;
  std::vector<uint32_t> cap, orig, nsec, lt;
  std::vector<double> sec;
  std::vector<uint8_t> bytes;
  uint32_t batches = 0;
  TraceFeed::read_sync(fd, chunk, ev, [&](const FeedChunk& c) {
    ++batches;
    for (uint32_t i = 0; i < c.count; ++i) {
      cap.push_back(c.caplen[i]);
      orig.push_back(c.origlen[i]);
      sec.push_back(c.sec[i]);
      nsec.push_back(c.nsec[i]);
      lt.push_back(c.link_type);
      bytes.insert(bytes.end(), c.bytes() + c.off[i], c.bytes() + c.off[i] + c.caplen[i]);
    }
  });
  auto u32s = [&](const std::vector<uint32_t>& v) {
    Napi::Uint32Array a = Napi::Uint32Array::New(env, v.size());
    if (!v.empty()) std::memcpy(a.Data(), v.data(), v.size() * 4);
    return a;
  };
  Napi::Object o = Napi::Object::New(env);
  Napi::Array lts = Napi::Array::New(env, ev.link_types.size());
  for (size_t i = 0; i < ev.link_types.size(); ++i) lts.Set(uint32_t(i), ev.link_types[i]);
  o.Set("linkTypes", lts);
  o.Set("caplen", u32s(cap));
  o.Set("origlen", u32s(orig));
  o.Set("nsec", u32s(nsec));
  o.Set("linkType", u32s(lt));  // each packet's, from its batch
  Napi::Float64Array s = Napi::Float64Array::New(env, sec.size());
  if (!sec.empty()) std::memcpy(s.Data(), sec.data(), sec.size() * 8);
  o.Set("sec", s);
  o.Set("data", Napi::Buffer<uint8_t>::Copy(env, bytes.data(), bytes.size()));
  o.Set("batches", batches);
  Napi::Array probs = Napi::Array::New(env, ev.problems.size());
  for (size_t i = 0; i < ev.problems.size(); ++i) {
    Napi::Object p = problem_object(env, 0, ev.problems[i].second);
    p.Set("error", ev.problems[i].first);
    probs.Set(uint32_t(i), p);
  }
  o.Set("problems", probs);
  o.Set("done", Napi::Number::New(env, double(ev.done)));
  return o;
}

}  // namespace nmc
