// `spinProbe`: the precision floor of the machine itself. A thread placed as the replay's sender
// would be (--realtime, --cpu) does nothing but read the clock and depart an ideal schedule, so
// every departure error it sees is time the machine took away from it (interrupts, other threads,
// the hypervisor's steal). The benchmark prints it next to the real sender's errors: a target
// below this floor cannot be met on that machine, whatever the sender does.
#pragma once

#include <napi.h>

namespace nmc {

Napi::Value SpinProbe(const Napi::CallbackInfo& info);

}  // namespace nmc
