// names.parse(name): what an explicit port name selects, parsed by the same code the open uses
// (pipe, netmap and interface-name rules), without opening anything. Bad names throw the open's
// own coded errors.
#include "js/js_names.h"

#include <string>

#include "js/js_util.h"
#include "ports/af_packet/af_packet_iface.h"
#include "ports/pipe/pipe_name.h"

namespace nmc {

Napi::Object netmap_name_object(Napi::Env env, const NetmapName& n) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("name", n.text);
  o.Set("kind", netmap_kind_name(n.kind));
  o.Set("kernelName", n.kernel_name);
  o.Set("port", n.port);
  o.Set("valeSwitch", n.kind == NetmapKind::kVale ? Napi::Value(Napi::String::New(env, n.vale_switch)) : env.Null());
  if (n.is_pipe) {
    Napi::Object p = Napi::Object::New(env);
    p.Set("master", n.pipe_master);
    p.Set("id", n.pipe_id);
    o.Set("pipe", p);
  } else {
    o.Set("pipe", env.Null());
  }
  o.Set("mode", n.mode);
  o.Set("modeName", netmap_mode_name(n.mode));
  o.Set("ringid", n.ringid);
  o.Set("flags", double(n.flags));
  o.Set("memId", n.mem_id);
  o.Set("txSlots", n.tx_slots);
  o.Set("rxSlots", n.rx_slots);
  o.Set("txRings", n.tx_rings);
  o.Set("rxRings", n.rx_rings);
  o.Set("hostTxRings", n.host_tx_rings);
  o.Set("hostRxRings", n.host_rx_rings);
  o.Set("description", describe_netmap_name(n));
  return o;
}

Napi::Object xdp_info_object(Napi::Env env, const PortInfo::Xdp& x) {
  auto text_or_null = [&](const std::string& s) { return s.empty() ? env.Null() : Napi::Value(Napi::String::New(env, s)); };
  Napi::Object o = Napi::Object::New(env);
  o.Set("zeroCopy", x.zero_copy);
  o.Set("attach", text_or_null(x.attach));
  o.Set("method", text_or_null(x.method));
  o.Set("drvRefusal", text_or_null(x.drv_refusal));
  if (x.tx_budget < 0) o.Set("txBudget", env.Null());
  else if (x.tx_budget == 0) o.Set("txBudget", "kernel-default");
  else o.Set("txBudget", double(x.tx_budget));
  return o;
}

namespace {

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

std::string name_arg(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(info.Env(), "name must be a string");
  return info[0].As<Napi::String>().Utf8Value();
}

// { backend, name, ifname, pipe, netmap }: ifname for interface backends, pipe { base, number,
// master } for nmcap's pipes, netmap (the parsed netmap name) for netmap and VALE ports.
Napi::Value Parse(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = name_arg(info);
  Napi::Object o = Napi::Object::New(env);
  o.Set("name", name);
  o.Set("ifname", env.Null());
  o.Set("pipe", env.Null());
  o.Set("netmap", env.Null());
  try {
    if (starts_with(name, "pipe:")) {
      PipeName pn = parse_pipe_name(name.substr(5));
      Napi::Object p = Napi::Object::New(env);
      p.Set("base", pn.base);
      p.Set("number", pn.number);
      p.Set("master", pn.master);
      o.Set("backend", "pipe");
      o.Set("pipe", p);
    } else if (starts_with(name, "netmap") || starts_with(name, "vale")) {  // the netmap parser explains bad ones
      NetmapName n = parse_netmap_name(name);
      o.Set("backend", "netmap");
      if (n.kind == NetmapKind::kNic) o.Set("ifname", n.port);
      o.Set("netmap", netmap_name_object(env, n));
    } else if (starts_with(name, "af_packet:") || starts_with(name, "af_xdp:")) {
      bool packet = starts_with(name, "af_packet:");
      std::string ifname = name.substr(packet ? 10 : 7);
      if (!af_packet_valid_ifname(ifname))
        throw PortError(errc::kBadName, "'" + ifname + "' is not a valid interface name: 1 to 15 characters, no '/', ':' or whitespace (see `ip link`)");
      o.Set("backend", packet ? "af_packet" : "af_xdp");
      o.Set("ifname", ifname);
    } else {
      throw PortError(errc::kBadName, "unknown port '" + name + "': use pipe:NAME{N, pipe:NAME}N, netmap:IF, valeX:Y, af_packet:IF or af_xdp:IF");
    }
  } catch (const PortError& e) {
    throw port_error(env, e);
  }
  return o;
}

Napi::Value IsNetmapName(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), is_netmap_name(name_arg(info)));
}

}  // namespace

Napi::Object NamesExports(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("parse", Napi::Function::New(env, Parse, "parse"));
  o.Set("isNetmapName", Napi::Function::New(env, IsNetmapName, "isNetmapName"));
  return o;
}

}  // namespace nmc
