// The nmcap addon: ports (netmap's ring API over every backend), and the capture and replay
// sessions whose loops run on native threads. Test-only hooks live in a second addon,
// nmcap_test.node (native/test/test_addon.cc), built from the same static library.
#include <napi.h>

#include <vector>

#include "js/js_capture.h"
#include "js/js_filter.h"
#include "js/js_direct_file.h"
#include "loops/pcapng_epb.h"
#include "js/js_epb_batch.h"
#include "js/js_names.h"
#include "js/js_pcap_walk.h"
#include "js/js_port.h"
#include "js/js_replay.h"
#include "js/js_trace_feed.h"
#include "js/session.h"

namespace nmc {

namespace {

// At environment teardown (process exit, worker end) no loop may outlive the environment:
// stop every live session and join its thread.
void cleanup_sessions(void* arg) {
  auto* data = static_cast<AddonData*>(arg);
  std::vector<NativeSession*> live;
  {
    std::lock_guard<std::mutex> lk(data->m);
    live.assign(data->live.begin(), data->live.end());
  }
  for (NativeSession* s : live) s->stop_and_join();
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  env.SetInstanceData(data);  // deleted by node after the cleanup hooks ran
  napi_add_env_cleanup_hook(env, cleanup_sessions, data);

  Napi::Function port = JsPort::Init(env);
  data->port_ctor = Napi::Persistent(port);
  exports.Set("Port", port);
  exports.Set("CaptureSession", JsCaptureSession::Init(env));
  exports.Set("ReplaySession", JsReplaySession::Init(env));
  exports.Set("TraceFeed", JsTraceFeed::Init(env));  // streamed classic pcap, read natively
  exports.Set("PcapRecordWalker", JsPcapRecordWalker::Init(env));  // the reader's classic pcap records
  exports.Set("pageOffset", Napi::Function::New(env, PageOffset, "pageOffset"));  // where the reader's reads land
  exports.Set("encodeEpbs", Napi::Function::New(env, EncodeEpbs, "encodeEpbs"));  // the pcapng writer's EPBs
  // The byte order of the EPBs the capture loop writes: the SHB of their section must say the same.
  exports.Set("epbByteOrder", kEpbByteOrder);
  exports.Set("filter", FilterExports(env));  // tcpdump expressions: compile (libpcap at run time), -d
  exports.Set("names", NamesExports(env));  // port names parsed as the open parses them
  exports.Set("DirectFile", JsDirectFile::Init(env));  // O_DIRECT capture files, written on their own thread
  return exports;
}

}  // namespace nmc

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return nmc::Init(env, exports); }
NODE_API_MODULE(nmcap, InitModule)
