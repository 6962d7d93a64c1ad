# node-gyp runs this on `npm ci`. The C libraries (fake vendor libraries now; the client library and
# the emulated driver later) are built by native/Makefile, since each must land in its own folder under
# its real soname; gyp only drives it here. N-API addons join as ordinary gyp targets.
{
  "targets": [
    {
      "target_name": "native_libraries",
      "type": "none",
      "actions": [
        {
          "action_name": "make_native_libraries",
          "inputs": ["<!@(find native -name '*.c' -o -name '*.h' -o -name Makefile)"],
          "outputs": ["<(module_root_dir)/build/native/fakes/libnvidia-ml.so.1"],
          "action": ["make", "-C", "native"]
        }
      ]
    }
  ]
}
