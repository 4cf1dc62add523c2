// JS class `PcapRecordWalker`: the native walker of classic pcap records (loops/trace_walker.h)
// behind the reader's default mode (src/pcap/parser.ts). One call walks a whole chunk into the
// batch's typed arrays, so the records of a cold read never wait for the JIT to warm a JS loop.
// src/pcap stays the reference: the parser keeps its own walk (NMCAP_JS_READER=1), composes every
// error and warning text itself from what this reports, and test/pcap/native-reader.test.ts reads
// every fixture, truncation and mutation both ways and compares the batches.
#pragma once

#include <napi.h>

#include "loops/trace_walker.h"

namespace nmc {

// pageOffset(buffer): where the buffer's first byte sits in its page (0 to 4095). The reader
// (src/pcap/sources.ts) places each read page-congruent to its file offset, for the reason
// FeedChunk gives (loops/trace_feed.h): a JS Buffer's address cannot be seen from JS.
Napi::Value PageOffset(const Napi::CallbackInfo& info);

class JsPcapRecordWalker : public Napi::ObjectWrap<JsPcapRecordWalker> {
 public:
  static Napi::Function Init(Napi::Env env);
  // new PcapRecordWalker(fileHeader, maxBlockLength, state: Float64Array(4))
  explicit JsPcapRecordWalker(const Napi::CallbackInfo& info);

 private:
  Napi::Value Walk(const Napi::CallbackInfo& info);

  PcapWalker walker_;
  Napi::Reference<Napi::Float64Array> state_ref_;
  double* state_ = nullptr;
};

}  // namespace nmc
