{
  "targets": [
    {
      "target_name": "nmcap",
      "sources": [
        "native/addon.cc",
        "native/js_port.cc",
        "native/js_capture.cc",
        "native/js_replay.cc",
        "native/capture_loop.cc",
        "native/replay_loop.cc",
        "native/port_open.cc",
        "native/port_pipe.cc",
        "native/port_netmap.cc",
        "native/netmap_name.cc",
        "native/netmap_rings.cc",
        "native/js_netmap_test.cc",
        "native/port_af_packet.cc",
        "native/port_af_xdp.cc",
        "native/xdp_prog.cc"
      ],
      "include_dirs": [ "<!(node -p \"require('node-addon-api').include_dir\")" ],
      "defines": [ "NAPI_VERSION=9", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED" ],
      "cflags_cc": [ "-std=c++20", "-O2", "-Wall", "-Wextra", "-fexceptions" ],
      "cflags_cc!": [ "-fno-exceptions", "-std=gnu++17" ]
    }
  ]
}
