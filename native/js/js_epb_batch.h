// encodeEpbs(): the EPBs of a reader's batch, encoded into a pcapng writer's output buffer in one
// call (loops/pcapng_epb.h, the layout the capture loop writes). src/pcap/writer-pcapng.ts calls it
// for the packets its fast path covers (timestamped, no options, little-endian, µs or ns output)
// and writes every other packet itself; test/pcap/native-writer.test.ts checks that the output is
// byte for byte what the writer's own loop writes (NMCAP_JS_WRITER=1) on every fixture.
#pragma once

#include <napi.h>

namespace nmc {

Napi::Value EncodeEpbs(const Napi::CallbackInfo& info);

}  // namespace nmc
