// `netmapTest`: hooks into the netmap backend's kernel-free parts (name parser, register request,
// ABI layout, ring adapters over a caller-provided memory image), so they are tested on machines
// without the netmap module.
#pragma once

#include <napi.h>

namespace nmc {

Napi::Object NetmapTestExports(Napi::Env env);

}  // namespace nmc
