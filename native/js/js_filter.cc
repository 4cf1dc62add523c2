// Capture filters: tcpdump expressions compiled by libpcap, found at run time with dlopen so that
// neither the build nor an install without filters needs libpcap. Only the few entry points and
// structs below are used; their layouts are libpcap's stable ABI (pcap/pcap.h, pcap/bpf.h).
//
// exports.filter = {
//   compile(expr, linkType, snaplen): Buffer of 8-byte instructions (host order)
//   image(program): string[]  (libpcap's bpf_image: the lines `tcpdump -d` prints)
//   libpcapVerdict(program, packet, wireLen): number  (pcap_offline_filter, the reference)
//   check(program): string | null  (our validator: why the program may not run)
//   run(program, packet, wireLen): number  (our interpreter)
//   selectBatch(programs, buffer, dataOffset, capLen, origLen, iface, kept): number
//     (our interpreter over a whole batch of a saved capture: the indexes of the packets it
//     accepts go into `kept`, their number is returned; programs[i] filters interface i)
// }
#include "js/js_filter.h"

#include <dlfcn.h>
#include <sys/time.h>

#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "js/js_util.h"
#include "loops/bpf.h"

namespace nmc {

namespace {

// libpcap's public types, as far as we touch them.
struct PcapBpfProgram {
  unsigned int bf_len;
  BpfInsn* bf_insns;
};
struct PcapPktHdr {
  struct timeval ts;
  uint32_t caplen;
  uint32_t len;
};
struct PcapHandle;  // pcap_t, opaque

constexpr uint32_t kNetmaskUnknown = 0xffffffffu;  // PCAP_NETMASK_UNKNOWN
constexpr const char* kInstallHint = "install libpcap (Debian/Ubuntu: apt-get install libpcap0.8; Fedora: dnf install libpcap)";

struct LibPcap {
  PcapHandle* (*open_dead)(int, int) = nullptr;
  int (*compile)(PcapHandle*, PcapBpfProgram*, const char*, int, uint32_t) = nullptr;
  void (*freecode)(PcapBpfProgram*) = nullptr;
  char* (*geterr)(PcapHandle*) = nullptr;
  void (*close)(PcapHandle*) = nullptr;
  char* (*image)(const BpfInsn*, int) = nullptr;
  int (*offline_filter)(const PcapBpfProgram*, const PcapPktHdr*, const uint8_t*) = nullptr;
  std::string error;  // set when libpcap could not be loaded
};

const LibPcap& libpcap() {
  static LibPcap lib;
  static std::once_flag once;
  std::call_once(once, [] {
    void* h = nullptr;
    for (const char* name : {"libpcap.so.0.8", "libpcap.so.1", "libpcap.so"}) {
      h = ::dlopen(name, RTLD_NOW | RTLD_LOCAL);
      if (h) break;
    }
    if (!h) {
      lib.error = std::string("capture filters need libpcap, which is not installed: ") + kInstallHint;
      return;
    }
    auto sym = [&](const char* n) { return ::dlsym(h, n); };
    lib.open_dead = reinterpret_cast<decltype(lib.open_dead)>(sym("pcap_open_dead"));
    lib.compile = reinterpret_cast<decltype(lib.compile)>(sym("pcap_compile"));
    lib.freecode = reinterpret_cast<decltype(lib.freecode)>(sym("pcap_freecode"));
    lib.geterr = reinterpret_cast<decltype(lib.geterr)>(sym("pcap_geterr"));
    lib.close = reinterpret_cast<decltype(lib.close)>(sym("pcap_close"));
    lib.image = reinterpret_cast<decltype(lib.image)>(sym("bpf_image"));
    lib.offline_filter = reinterpret_cast<decltype(lib.offline_filter)>(sym("pcap_offline_filter"));
    if (!lib.open_dead || !lib.compile || !lib.freecode || !lib.geterr || !lib.close || !lib.image || !lib.offline_filter)
      lib.error = std::string("the installed libpcap lacks pcap_compile or bpf_image (too old): ") + kInstallHint;
  });
  return lib;
}

const LibPcap& require_libpcap(Napi::Env env) {
  const LibPcap& lib = libpcap();
  if (!lib.error.empty()) throw coded_error(env, "ERR_FILTER_NO_LIBPCAP", lib.error);
  return lib;
}

// libpcap's DLT_ values differ from the LINKTYPE_ values files carry for a few link types.
int dlt_of_linktype(uint32_t lt) {
  if (lt == 101) return 12;  // LINKTYPE_RAW -> DLT_RAW (Linux value)
  return int(lt);
}

Napi::Value Compile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "compile(expr, linkType, snaplen)");
  const std::string expr = info[0].As<Napi::String>().Utf8Value();
  const uint32_t lt = info[1].ToNumber().Uint32Value();
  const uint32_t snaplen = info[2].ToNumber().Uint32Value();
  const LibPcap& lib = require_libpcap(env);
  PcapHandle* p = lib.open_dead(dlt_of_linktype(lt), int(snaplen));
  if (!p) throw coded_error(env, "ERR_FILTER_NO_LIBPCAP", "libpcap: pcap_open_dead failed");
  PcapBpfProgram prog{};
  if (lib.compile(p, &prog, expr.c_str(), 1, kNetmaskUnknown) != 0) {
    std::string why = lib.geterr(p);
    lib.close(p);
    throw coded_error(env, "ERR_FILTER_SYNTAX", "cannot compile filter \"" + expr + "\": " + why);
  }
  Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<const uint8_t*>(prog.bf_insns),
                                                          size_t(prog.bf_len) * sizeof(BpfInsn));
  lib.freecode(&prog);
  lib.close(p);
  return out;
}

std::vector<BpfInsn> program_arg(Napi::Env env, const Napi::Value& v) {
  if (!v.IsTypedArray()) throw Napi::TypeError::New(env, "a program: a Buffer of 8-byte BPF instructions");
  Napi::Uint8Array a = v.As<Napi::Uint8Array>();
  if (a.ByteLength() % sizeof(BpfInsn) != 0) throw Napi::RangeError::New(env, "a BPF program is a multiple of 8 bytes");
  std::vector<BpfInsn> prog(a.ByteLength() / sizeof(BpfInsn));
  if (!prog.empty()) std::memcpy(prog.data(), a.Data(), a.ByteLength());
  return prog;
}

}  // namespace

std::vector<BpfInsn> checked_program(Napi::Env env, const Napi::Value& v) {
  std::vector<BpfInsn> prog = program_arg(env, v);
  std::string why = bpf_check(prog);
  if (!why.empty()) throw coded_error(env, "ERR_FILTER_INVALID", "invalid BPF program: " + why);
  return prog;
}

namespace {

Napi::Value Image(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<BpfInsn> prog = program_arg(env, info[0]);
  const LibPcap& lib = require_libpcap(env);
  Napi::Array out = Napi::Array::New(env, prog.size());
  for (size_t i = 0; i < prog.size(); ++i) out.Set(uint32_t(i), Napi::String::New(env, lib.image(&prog[i], int(i))));
  return out;
}

Napi::Value LibpcapVerdict(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<BpfInsn> prog = program_arg(env, info[0]);
  Napi::Uint8Array pkt = info[1].As<Napi::Uint8Array>();
  const LibPcap& lib = require_libpcap(env);
  PcapBpfProgram p{unsigned(prog.size()), prog.data()};
  PcapPktHdr h{};
  h.caplen = uint32_t(pkt.ByteLength());
  h.len = info[2].ToNumber().Uint32Value();
  return Napi::Number::New(env, double(uint32_t(lib.offline_filter(&p, &h, pkt.Data()))));
}

Napi::Value Check(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string why = bpf_check(program_arg(env, info[0]));
  return why.empty() ? env.Null() : Napi::Value(Napi::String::New(env, why));
}

Napi::Value Run(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<BpfInsn> prog = checked_program(env, info[0]);
  Napi::Uint8Array pkt = info[1].As<Napi::Uint8Array>();
  return Napi::Number::New(env, double(bpf_run(prog.data(), pkt.Data(), uint32_t(pkt.ByteLength()), info[2].ToNumber().Uint32Value())));
}

template <typename T>
T typed_arg(Napi::Env env, const Napi::Value& v, const char* what) {
  if (!v.IsTypedArray()) throw Napi::TypeError::New(env, std::string("selectBatch: ") + what + " must be a typed array");
  return v.As<T>();
}

// One call per batch of a saved capture (nmcap -r FILE EXPR): the per-packet work stays here, the
// JS side only compacts its arrays by the kept indexes.
Napi::Value SelectBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray()) throw Napi::TypeError::New(env, "selectBatch: programs must be an array (one per interface)");
  Napi::Array js_programs = info[0].As<Napi::Array>();
  std::vector<std::vector<BpfInsn>> programs(js_programs.Length());
  for (uint32_t i = 0; i < js_programs.Length(); ++i) {
    Napi::Value v = js_programs.Get(i);
    if (!v.IsUndefined() && !v.IsNull()) programs[i] = checked_program(env, v);
  }
  Napi::Uint8Array buffer = typed_arg<Napi::Uint8Array>(env, info[1], "buffer");
  auto offset = typed_arg<Napi::Uint32Array>(env, info[2], "dataOffset");
  auto cap = typed_arg<Napi::Uint32Array>(env, info[3], "capLen");
  auto orig = typed_arg<Napi::Uint32Array>(env, info[4], "origLen");
  auto iface = typed_arg<Napi::Uint32Array>(env, info[5], "iface");
  auto kept = typed_arg<Napi::Uint32Array>(env, info[6], "kept");
  const size_t n = offset.ElementLength();
  if (cap.ElementLength() != n || orig.ElementLength() != n || iface.ElementLength() != n || kept.ElementLength() < n)
    throw Napi::RangeError::New(env, "selectBatch: the arrays must hold one entry per packet");
  const uint8_t* data = buffer.Data();
  const size_t size = buffer.ByteLength();
  uint32_t nkept = 0;
  for (size_t i = 0; i < n; ++i) {
    const uint32_t ifx = iface[i];
    if (ifx >= programs.size() || programs[ifx].empty())
      throw Napi::RangeError::New(env, "selectBatch: no program for interface " + std::to_string(ifx));
    if (size_t(offset[i]) + cap[i] > size) throw Napi::RangeError::New(env, "selectBatch: a packet lies outside the buffer");
    if (bpf_run(programs[ifx].data(), data + offset[i], cap[i], orig[i]) != 0) kept[nkept++] = uint32_t(i);
  }
  return Napi::Number::New(env, nkept);
}

}  // namespace

Napi::Object FilterExports(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("compile", Napi::Function::New(env, Compile, "compile"));
  o.Set("image", Napi::Function::New(env, Image, "image"));
  o.Set("libpcapVerdict", Napi::Function::New(env, LibpcapVerdict, "libpcapVerdict"));
  o.Set("check", Napi::Function::New(env, Check, "check"));
  o.Set("run", Napi::Function::New(env, Run, "run"));
  o.Set("selectBatch", Napi::Function::New(env, SelectBatch, "selectBatch"));
  return o;
}

}  // namespace nmc
