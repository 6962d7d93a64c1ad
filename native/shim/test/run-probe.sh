#!/usr/bin/env bash
# Proves that unmodified nvcc-built programs run their device queries over the shim's local parts
# (devices.c, procaddress.c, export_tables.c, md2.c). Builds a stand-in libcuda.so.1 from them and
# probe_lib.c (two fake H100s), runs the unit tests, then builds probe.cu twice, with the static
# cudart that nvcc links by default and with -cudart shared, runs both with LD_LIBRARY_PATH on that
# library and compares what they print with probe.expected. Needs no GPU.
#
#   run-probe.sh [--lib DIR] [--expect FILE]
#     --lib DIR      run the probes on DIR/libcuda.so.1 instead (the unit tests still use the probe
#                    library); --expect then names the output its devices should give
#     --expect FILE  expected probe output (default: probe.expected beside this script)
#   CUDA_HOME (/usr/local/cuda), BUILD_DIR (build/native/shim-probe), CC (cc);
#   GPUPOOL_DEBUG=1 makes the libraries trace every call to stderr.
#
# A probe failing with 35 means cudart found no libcuda.so.1 or a table it needs; 103 means the
# integrity check's answer is wrong (export_tables.c lists what to re-check per toolkit).
# It also builds real_driver_check: run that on a machine with a GPU (and the real driver) to compare
# the facts the shim relies on with that driver's answers, e.g. after a toolkit or driver update.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
shim=$(dirname "$here")
root=$(cd "$shim/../.." && pwd)
cuda=${CUDA_HOME:-/usr/local/cuda}
build=${BUILD_DIR:-$root/build/native/shim-probe}
cc=${CC:-cc}
lib_dir=
expect=$here/probe.expected
while [ $# -gt 0 ]; do
  case $1 in
    --lib) lib_dir=$(cd "$2" && pwd); shift 2 ;;
    --expect) expect=$(cd "$(dirname "$2")" && pwd)/$(basename "$2"); shift 2 ;;
    *) echo "usage: $0 [--lib DIR] [--expect FILE]" >&2; exit 2 ;;
  esac
done

# The flags native/Makefile compiles the library with, plus the CUDA headers.
cflags=(-std=c11 -D_POSIX_C_SOURCE=200809L -O2 -g -Wall -Wextra -Werror -fPIC -fvisibility=hidden
        -I"$cuda/include")
sources=("$shim/md2.c" "$shim/devices.c" "$shim/procaddress.c" "$shim/export_tables.c" "$shim/../common/cuda_errors.c" "$shim/log.c" "$shim/trace.c")
mkdir -p "$build/lib"

step() { printf '== %s\n' "$*"; }

step "md2 and procaddress unit tests"
"$cc" "${cflags[@]}" -o "$build/md2_test" "$here/md2_test.c" "$shim/md2.c"
"$build/md2_test"
"$cc" "${cflags[@]}" -o "$build/procaddress_test" "$here/procaddress_test.c" "$shim/procaddress.c"
"$build/procaddress_test"

step "probe libcuda.so.1"
"$cc" "${cflags[@]}" -shared -Wl,--no-undefined -Wl,-soname,libcuda.so.1 \
  -o "$build/lib/libcuda.so.1" "$here/probe_lib.c" "${sources[@]}" -lpthread

step "shim unit tests on the probe library"
# Every CUresult that cuda.h defines, "NAME VALUE", so that a new one without a name fails here.
awk '/^typedef enum cudaError_enum/,/} CUresult;/' "$cuda/include/cuda.h" |
  sed -nE 's/^[[:space:]]+(CUDA_[A-Z0-9_]+)[[:space:]]*=[[:space:]]*([0-9]+).*/\1 \2/p' \
  > "$build/curesults.txt"
"$cc" "${cflags[@]}" -o "$build/shim_test" "$here/shim_test.c" -L"$build/lib" -l:libcuda.so.1 \
  -Wl,-rpath,"$build/lib" -lpthread
"$build/shim_test" "$build/curesults.txt"

step "real_driver_check (not run: it needs the real driver)"
"$cc" "${cflags[@]}" -o "$build/real_driver_check" "$here/real_driver_check.c" "$shim/md2.c" -ldl \
  -lpthread

step "probe.cu, static and shared cudart"
"$cuda/bin/nvcc" -o "$build/probe_static" "$here/probe.cu"
"$cuda/bin/nvcc" -cudart shared -o "$build/probe_shared" "$here/probe.cu"

status=0
for variant in static shared; do
  step "probe_$variant on ${lib_dir:-the probe library}"
  out=$build/probe_$variant.out
  # LD_LIBRARY_PATH is how cudart's dlopen("libcuda.so.1") finds a library that is not installed.
  if ! LD_LIBRARY_PATH="${lib_dir:-$build/lib}:$cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
       "$build/probe_$variant" > "$out"; then
    echo "probe_$variant exited with an error"
    status=1
  fi
  if ! diff -u "$expect" "$out"; then
    status=1
  fi
done
[ $status -eq 0 ] && step "all passed"
exit $status
