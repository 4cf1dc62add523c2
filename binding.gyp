{
  "target_defaults": {
    "include_dirs": [ "<!(node -p \"require('node-addon-api').include_dir\")", "native" ],
    "defines": [ "NAPI_VERSION=9", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED" ],
    "cflags": [ "-fPIC" ],
    "cflags_cc": [ "-std=c++20", "-O2", "-Wall", "-Wextra", "-fexceptions", "-fPIC" ],
    "cflags_cc!": [ "-fno-exceptions", "-std=gnu++17" ],
    "libraries": [ "-ldl" ]
  },
  "targets": [
    {
      "target_name": "nmcap_core",
      "type": "static_library",
      "sources": [
        "native/ring/port.cc",
        "native/ports/port_open.cc",
        "native/ports/pipe/port_pipe.cc",
        "native/ports/pipe/pipe_rendezvous.cc",
        "native/ports/netmap/port_netmap.cc",
        "native/ports/netmap/netmap_name.cc",
        "native/ports/netmap/netmap_rings.cc",
        "native/ports/af_packet/port_af_packet.cc",
        "native/ports/af_packet/af_packet_rx.cc",
        "native/ports/af_packet/af_packet_tx.cc",
        "native/ports/af_xdp/port_af_xdp.cc",
        "native/ports/af_xdp/af_xdp_setup.cc",
        "native/ports/af_xdp/af_xdp_rx.cc",
        "native/ports/af_xdp/af_xdp_tx.cc",
        "native/ports/af_xdp/xdp_prog.cc",
        "native/loops/capture_loop.cc",
        "native/loops/replay_loop.cc",
        "native/loops/ring_dispatch.cc",
        "native/loops/trace_walker.cc",
        "native/loops/pcapng_walker.cc",
        "native/loops/trace_feed.cc",
        "native/js/js_trace_feed.cc",
        "native/js/js_pcap_walk.cc",
        "native/js/js_epb_batch.cc",
        "native/loops/pacer.cc",
        "native/loops/link_emu.cc",
        "native/loops/sender_thread.cc",
        "native/js/js_link_emu.cc",
        "native/loops/bpf.cc",
        "native/js/js_filter.cc",
        "native/js/js_names.cc",
        "native/js/js_direct_file.cc",
        "native/loops/direct_writer.cc",
        "native/js/js_port.cc",
        "native/js/js_capture.cc",
        "native/js/js_replay.cc"
      ]
    },
    {
      "target_name": "nmcap",
      "dependencies": [ "nmcap_core" ],
      "sources": [ "native/js/addon.cc" ]
    },
    {
      "target_name": "nmcap_test",
      "dependencies": [ "nmcap_core" ],
      "sources": [ "native/test/test_addon.cc", "native/test/js_netmap_test.cc", "native/test/js_spin_probe.cc" ]
    }
  ]
}
