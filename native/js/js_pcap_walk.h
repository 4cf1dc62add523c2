// JS class `PcapRecordWalker`: the native walker of classic pcap records (loops/trace_walker.h)
// behind the reader's default mode (src/pcap/parser.ts). One call walks a whole chunk into the
// batch's typed arrays, so the records of a cold read never wait for the JIT to warm a JS loop.
// src/pcap stays the reference: the parser keeps its own walk (NMCAP_JS_READER=1), composes every
// error and warning text itself from what this reports, and test/pcap/native-reader.test.ts reads
// every fixture, truncation and mutation both ways and compares the batches.
#pragma once

#include <napi.h>

#include <vector>

#include "loops/trace_walker.h"

namespace nmc {

class JsPcapRecordWalker : public Napi::ObjectWrap<JsPcapRecordWalker> {
 public:
  static Napi::Function Init(Napi::Env env);
  // new PcapRecordWalker(fileHeader, maxBlockLength, state: Float64Array(4))
  explicit JsPcapRecordWalker(const Napi::CallbackInfo& info);

 private:
  class Ahead;
  struct Columns {
    uint32_t* data_offset;
    uint32_t* cap_len;
    uint32_t* orig_len;
    double* ts_sec;
    uint32_t* ts_nsec;
  };
  struct Result {
    int stop = 1;  // kStopNeed
    size_t pos = 0, need = 0;
    uint32_t count = 0;
    double warn_at = -1;
  };
  struct Scratch {
    std::vector<uint32_t> off, cap, orig, nsec;
    std::vector<double> sec;
  };

  Napi::Value Walk(const Napi::CallbackInfo& info);
  Napi::Value WalkAhead(const Napi::CallbackInfo& info);
  static Napi::Value Map(const Napi::CallbackInfo& info);
  Result walk_records(const uint8_t* buf, size_t pos, size_t end, uint64_t base, const Columns& out, uint32_t n,
                      uint32_t capacity);
  // The state array, on the JS thread.
  void publish(const Result& res);

  PcapWalker walker_;
  Scratch scratch_;  // walkAhead's columns, reused from walk to walk
  Napi::Reference<Napi::Float64Array> state_ref_;
  double* state_ = nullptr;
  size_t state_slots_ = 0;
};

}  // namespace nmc
