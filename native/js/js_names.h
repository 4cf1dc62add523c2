// Port names and port facts as JS objects: the one place the native side spells them out, so the
// TypeScript side never keeps a second parser or parses description strings back.
#pragma once

#include <napi.h>

#include "ports/netmap/netmap_name.h"
#include "ring/port.h"

namespace nmc {

// A parsed netmap name (netmapNames.parse, and the netmap test hooks).
Napi::Object netmap_name_object(Napi::Env env, const NetmapName& n);

// PortInfo::Xdp as { zeroCopy, attach, method, drvRefusal, txBudget }.
Napi::Object xdp_info_object(Napi::Env env, const PortInfo::Xdp& x);

// names: { parse(name), isNetmapName(name) }.
Napi::Object NamesExports(Napi::Env env);

}  // namespace nmc
