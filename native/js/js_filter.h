// exports.filter: libpcap's filter compiler (loaded at run time) and our classic-BPF interpreter.
#pragma once

#include <napi.h>

#include <vector>

#include "loops/bpf.h"

namespace nmc {

Napi::Object FilterExports(Napi::Env env);

// A program handed over from JS (Buffer of 8-byte instructions), checked; throws
// ERR_FILTER_INVALID with the reason otherwise.
std::vector<BpfInsn> checked_program(Napi::Env env, const Napi::Value& v);

}  // namespace nmc
