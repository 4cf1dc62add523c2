// The nmcap addon: ports (netmap's ring API over every backend), and the capture and replay
// sessions whose loops run on native threads.
#include <napi.h>

#include "js_netmap_test.h"
#include "js_port.h"

namespace nmc {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Port", JsPort::Init(env));
  exports.Set("netmapTest", NetmapTestExports(env));  // kernel-free parts of the netmap backend
  return exports;
}

}  // namespace nmc

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return nmc::Init(env, exports); }
NODE_API_MODULE(nmcap, InitModule)
