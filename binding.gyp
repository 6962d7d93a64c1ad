# The N-API addon, built by node-gyp (`npm run build:native`). The C libraries (the fake vendor
# libraries, the client library and the emulated driver) are built by native/Makefile instead, since
# each must land in its own folder under its real soname; the build script runs make before node-gyp.
# gpupool_compute reads generated sources from build/gen (`npm run build:gen` writes them first).
{
  "variables": {
    # The session core: everything the addon and the session worker both run.
    "core_sources": [
      "native/addon/alloc_handlers.cc",
      "native/addon/call_ring.cc",
      "native/addon/card_state.cc",
      "native/addon/connection.cc",
      "native/addon/copy3d_handlers.cc",
      "native/addon/dispatch.cc",
      "native/addon/driver.cc",
      "native/addon/handlers.cc",
      "native/addon/link_handler.cc",
      "native/addon/graph_handler.cc",
      "native/addon/msgpuck.cc",
      "native/addon/runner.cc",
      "native/addon/runner_ring.cc",
      "native/addon/scheduler.cc",
      "native/addon/session.cc",
      "native/addon/session_memory.cc",
      "native/addon/shared_memory.cc",
      "native/addon/texture_handlers.cc",
      "native/addon/wire.cc",
      "native/addon/ws_frame.cc",
      "native/common/frame_in.c",
      "native/common/mp_check.c",
      "build/gen/gp_frames.c"
    ]
  },
  "targets": [
    {
      "target_name": "gpupool_compute",
      "sources": ["native/addon/addon.cc", "native/addon/local_peer.cc", "<@(core_sources)"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<(module_root_dir)/build/gen",
        "<(module_root_dir)/native/common",
        "/usr/local/cuda/include"
      ],
      "defines": ["NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O2", "-fexceptions", "-Wall", "-Wextra"],
      # msgpuck is compiled in (msgpuck.cc): Debian's libmsgpuck.a is not position-independent.
      "libraries": ["-ldl", "-lpthread"]
    },
    {
      # One session in a process of its own, or one tenant's sessions (config compute.sessionProcess,
      # compute.workerScope; docs/architecture.md).
      "target_name": "gpupool-session-worker",
      "type": "executable",
      "sources": ["native/worker/main.cc", "native/worker/control.cc", "<@(core_sources)"],
      "include_dirs": [
        "<(module_root_dir)/build/gen",
        "<(module_root_dir)/native/common",
        "/usr/local/cuda/include"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O2", "-fexceptions", "-Wall", "-Wextra"],
      "libraries": ["-ldl", "-lpthread", "-lcjson"]
    }
  ]
}
