{
  "targets": [
    {
      "target_name": "nmcap",
      "sources": [ "native/addon.cc" ],
      "include_dirs": [ "<!(node -p \"require('node-addon-api').include_dir\")" ],
      "defines": [ "NAPI_VERSION=9", "NODE_ADDON_API_DISABLE_DEPRECATED" ],
      "cflags_cc": [ "-std=c++20", "-O2", "-Wall", "-Wextra", "-fexceptions" ],
      "cflags_cc!": [ "-fno-exceptions", "-std=gnu++17" ]
    }
  ]
}
