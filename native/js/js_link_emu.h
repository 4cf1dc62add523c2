// The replay's link emulation and sending-thread options, between JS objects and native structs
// (shared by the replay session and the test addon).
#pragma once

#include <napi.h>

#include "loops/link_emu.h"
#include "loops/sender_thread.h"

namespace nmc {

// { delay?: { kind: 'constant' | 'uniform' | 'exponential', minNs, maxNs?, meanNs? },
//   loss?: { kind: 'packet' | 'bit', rate }, bandwidth?: { num, den, overheadBytes? }, seed: bigint }
LinkEmuConfig link_emu_config(const Napi::Object& o);

// { tid, policy, priority, cpus: number[], realtimeError: string | null, cpuError: string | null }
Napi::Object sender_object(Napi::Env env, const SenderThreadState& s);

}  // namespace nmc
