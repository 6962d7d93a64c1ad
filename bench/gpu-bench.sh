#!/usr/bin/env bash
# On the GPU machine: gpupool's cross-pull overheads on the real card. Builds bench/programs/ there
# (cc, nvcc -arch=sm_90), then runs each benchmark program DIRECTLY on the real driver (linked to the
# name libcuda.so.1; ld.so.cache finds the real one) and THROUGH gpupool (`gpupool run` against a
# daemon on the real driver, 127.0.0.1:7760), trials interleaved (direct, gpupool, direct, ...),
# TRIALS of each; medians. Every program's JSON goes to $OUT/raw.jsonl, one JSON line per figure to
# $OUT/summary.jsonl (and stdout).
#
# Run from the repository root on the GPU machine, with .device/ carried (node.xz, nm.tar.xz,
# build.tar made by `npm run build` here, libwslay.so.1, libcjson.so.1; see docs/gpu-validation.md):
#   bash bench/gpu-bench.sh        (kept in the repository; a copy travels as .device/bench-gpu.sh)
# BENCH_EMU=1: the same script on the emulated driver (no GPU; the logic's local check): the direct
# runs use build/native/fakes/cuda, the daemon --simulate.
set -u
R=$PWD
OUT=${OUT:-/tmp/bench-gpu-out}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/log.txt") 2>&1
EMU=${BENCH_EMU:-}
TRIALS=${TRIALS:-3}
LAT_N=${LAT_N:-20000}
LAUNCH_N=${LAUNCH_N:-200000}
COPY_TARGET=${COPY_TARGET:-67108864}
SIZES="4096 16384 65536 262144 1048576 4194304 16777216 67108864 268435456"
TRAIN_STEPS=${TRAIN_STEPS:-500}
TRAIN_K=20
SPIN_NS=${SPIN_NS:-50000}
PTO=${PTO:-45} # each program's time limit, s
CUDA=${CUDA_HOME:-/usr/local/cuda}
export PATH=$PATH:$CUDA/bin
T0=$(date +%s.%N)
stamp() { echo "[$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%6.1f", b-a}') s] $*"; }

if [ -z "$EMU" ]; then
  mkdir -p /tmp/n && xz -dc .device/node.xz > /tmp/n/node && chmod +x /tmp/n/node && export PATH=/tmp/n:$PATH
  tar -xJf .device/nm.tar.xz && tar -xf .device/build.tar
  export LD_LIBRARY_PATH=$R/.device
fi
stamp "unpacked"
{
  nvidia-smi --query-gpu=name,driver_version,memory.total,persistence_mode,pstate,clocks.sm,clocks.max.sm,clocks.mem --format=csv
  nvcc --version | tail -2; node --version; uname -r; nproc; grep -m1 'model name' /proc/cpuinfo; free -g | head -2
} > "$OUT/env.txt" 2>&1

# ---- build ------------------------------------------------------------------------------------------
P=/tmp/gpb; rm -rf $P; mkdir -p $P
: > "$OUT/build.txt"
ok=1
for n in sync_latency launch_rate copy_bw train_loop; do
  cc -std=c11 -O2 -Wall -I "$CUDA/include" -o $P/$n bench/programs/$n.c -L build/native/shim -l:libcuda.so.1 >> "$OUT/build.txt" 2>&1 || { echo "build $n failed"; ok=0; }
done
for n in pingpong stream; do
  cc -std=c11 -O2 -Wall -o $P/$n bench/programs/$n.c >> "$OUT/build.txt" 2>&1 || { echo "build $n failed"; ok=0; }
done
nvcc -arch=sm_90 -fatbin -o $P/tk.fatbin native/fakes/cuda/kernels/test_kernels.cu >> "$OUT/build.txt" 2>&1 || { echo "nvcc test_kernels failed"; ok=0; }
nvcc -arch=sm_90 -fatbin -o $P/gk.fatbin bench/programs/gpu_kernels.cu >> "$OUT/build.txt" 2>&1 || { echo "nvcc gpu_kernels failed"; ok=0; }
ldd $P/sync_latency | grep -i cuda >> "$OUT/env.txt" 2>&1
stamp "built (ok=$ok)"
[ $ok = 1 ] || { cat "$OUT/build.txt"; exit 1; }

if [ -n "$EMU" ]; then
  FIX=$R/native/fakes/fixtures/default.json
  DIRECT_ENV=(env "LD_LIBRARY_PATH=$R/build/native/fakes/cuda:${LD_LIBRARY_PATH:-}" "GPUPOOL_SIM_FIXTURE=$FIX"
    "GPUPOOL_EMU_KERNELS=$R/build/native/fakes/cuda/kernels/libgpupool_test_kernels.so" GPUPOOL_EMU_KERNEL_NS=0 GPUPOOL_EMU_COPY_BYTES_PER_NS=1000000)
  SIM=(--simulate "$FIX")
  export GPUPOOL_EMU_KERNEL_NS=0 GPUPOOL_EMU_COPY_BYTES_PER_NS=1000000
else
  DIRECT_ENV=(env)
  SIM=()
fi

# ---- the daemon on the real driver ------------------------------------------------------------------
echo '{"health":{"xidWaitMs":100}}' > $P/gpupoold.json
DLOG=$OUT/daemon.log
node dist/cli/gpupool.js daemon "${SIM[@]}" --listen 127.0.0.1:7760 --config $P/gpupoold.json > "$DLOG" 2>&1 &
D=$!
for i in $(seq 1 100); do grep -q '"listening"' "$DLOG" && break; kill -0 $D 2>/dev/null || break; sleep 0.1; done
grep -q '"listening"' "$DLOG" || { echo "the daemon did not start"; cat "$DLOG"; exit 1; }
node dist/cli/gpupool.js status --host http://127.0.0.1:7760 --json > $P/status.json 2>&1
grep -o '"compute":{[^}]*}' $P/status.json | head -1 >> "$OUT/env.txt"
stamp "daemon up (pid $D)"

CLK=$(getconf CLK_TCK)
RAW=$OUT/raw.jsonl
: > "$RAW"
dcpu() { local s; s=$(sed 's/.*) //' /proc/$D/stat); set -- $s; echo $(( (${12} + ${13}) * 1000000000 / CLK )); }
freed() { grep -c 'session freed' "$DLOG"; }

# record LABEL MODE TRIAL DAEMON_CPU_NS OUTPUT_FILE: one line of raw.jsonl (or the failure)
record() {
  local line
  line=$(grep -m1 '^{' "$5")
  if [ -z "$line" ]; then
    echo "FAILED: $1 $2 trial $3:"; tail -5 "$5"
    printf '{"label":"%s","mode":"%s","trial":%s,"error":true}\n' "$1" "$2" "$3" >> "$RAW"
  else
    printf '{"label":"%s","mode":"%s","trial":%s,"daemon_cpu_ns":%s,"result":%s}\n' "$1" "$2" "$3" "$4" "$line" >> "$RAW"
  fi
}
direct() { # LABEL TRIAL PROGRAM ARGS...
  local label=$1 t=$2; shift 2
  timeout $PTO "${DIRECT_ENV[@]}" "$@" > $P/o.txt 2>&1; echo "rc=$?" >> $P/o.txt
  record "$label" direct "$t" null $P/o.txt
}
pooled() { # LABEL TRIAL PROGRAM ARGS...
  local label=$1 t=$2; shift 2
  local f0 c0 c1 i
  f0=$(freed); c0=$(dcpu)
  timeout $PTO node dist/cli/gpupool.js run --servers ws://127.0.0.1:7760 -- "$@" > $P/o.txt 2>&1; echo "rc=$?" >> $P/o.txt
  for i in $(seq 1 100); do [ "$(freed)" -gt "$f0" ] && break; sleep 0.05; done # the session's thread ends
  c1=$(dcpu)
  record "$label" gpupool "$t" $((c1 - c0)) $P/o.txt
}
plain() { # LABEL TRIAL PROGRAM ARGS... (the TCP baselines)
  local label=$1 t=$2; shift 2
  timeout $PTO "$@" > $P/o.txt 2>&1; echo "rc=$?" >> $P/o.txt
  record "$label" tcp "$t" null $P/o.txt
}

# ---- the benchmarks, trials interleaved -------------------------------------------------------------
for t in $(seq 1 $TRIALS); do
  plain pingpong $t $P/pingpong $LAT_N 32 16
  for op in ctxsync streamquery; do
    direct sync_$op $t $P/sync_latency $LAT_N $op
    pooled sync_$op $t $P/sync_latency $LAT_N $op
  done
done
stamp "1. latency done"
for t in $(seq 1 $TRIALS); do
  direct launch $t $P/launch_rate $P/tk.fatbin $LAUNCH_N
  pooled launch $t $P/launch_rate $P/tk.fatbin $LAUNCH_N
done
stamp "2. launches done"
for t in $(seq 1 $TRIALS); do
  plain stream $t $P/stream $COPY_TARGET $SIZES
  direct copy $t $P/copy_bw both $COPY_TARGET $SIZES
  pooled copy $t $P/copy_bw both $COPY_TARGET $SIZES
done
stamp "3. copies done"
for b in 65536 4096; do
  for t in $(seq 1 $TRIALS); do
    direct train_$b $t $P/train_loop $P/gk.fatbin $TRAIN_STEPS $TRAIN_K $b $SPIN_NS
    pooled train_$b $t $P/train_loop $P/gk.fatbin $TRAIN_STEPS $TRAIN_K $b $SPIN_NS
  done
done
# the same step without the spin kernels (K=2: copy, scale, saxpy, copy, sync): what a step costs apart from device time
for t in $(seq 1 $TRIALS); do
  direct train_k2 $t $P/train_loop $P/gk.fatbin $TRAIN_STEPS 2 65536 0
  pooled train_k2 $t $P/train_loop $P/gk.fatbin $TRAIN_STEPS 2 65536 0
done
stamp "4. training loop done"

kill -TERM $D; wait $D; echo "daemon exit $?" >> "$DLOG"

# ---- summary: one JSON line per figure --------------------------------------------------------------
node - "$RAW" "$OUT/summary.jsonl" "$SPIN_NS" <<'JS'
const fs = require('fs');
const [raw, out, spinNs] = process.argv.slice(2);
const rows = fs.readFileSync(raw, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const med = (xs) => { xs = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b); if (!xs.length) return null; const m = xs.length >> 1; return xs.length % 2 ? xs[m] : (xs[m - 1] + xs[m]) / 2; };
const get = (label, mode) => rows.filter((r) => r.label === label && r.mode === mode && r.result);
const fails = rows.filter((r) => r.error).map((r) => `${r.label}/${r.mode}/${r.trial}`);
const lines = [];
const emit = (o) => lines.push(JSON.stringify(o));
const r3 = (x) => (x == null ? null : Math.round(x * 1000) / 1000);
const stat = (rs, keys) => Object.fromEntries(keys.map((k) => [k, med(rs.map((r) => r.result[k]))]));
const pp = get('pingpong', 'tcp');
if (pp.length) emit({ figure: 'tcp_pingpong', trials: pp.length, ...stat(pp, ['median_ns', 'p99_ns', 'mean_ns']) });
for (const op of ['ctxsync', 'streamquery']) {
  const d = get(`sync_${op}`, 'direct'), g = get(`sync_${op}`, 'gpupool');
  const ds = stat(d, ['median_ns', 'p99_ns', 'mean_ns']), gs = stat(g, ['median_ns', 'p99_ns', 'mean_ns']);
  emit({ figure: 'sync_latency', op: d[0]?.result.op ?? op, trials: [d.length, g.length], direct: ds, gpupool: gs,
    ratio_median: r3(gs.median_ns / ds.median_ns), ratio_p99: r3(gs.p99_ns / ds.p99_ns),
    daemon_cpu_ns_per_call: med(g.map((r) => r.daemon_cpu_ns / (r.result.n + 1000))) });
}
{
  const d = get('launch', 'direct'), g = get('launch', 'gpupool');
  const ds = stat(d, ['launches_per_s', 'enqueue_per_s']), gs = stat(g, ['launches_per_s', 'enqueue_per_s']);
  emit({ figure: 'launch_rate', n: d[0]?.result.n, trials: [d.length, g.length], direct: ds, gpupool: gs,
    ratio: r3(gs.launches_per_s / ds.launches_per_s), ratio_enqueue: r3(gs.enqueue_per_s / ds.enqueue_per_s),
    daemon_cpu_ns_per_launch: med(g.map((r) => r.daemon_cpu_ns / (r.result.n + 2000))) });
}
{
  const d = get('copy', 'direct'), g = get('copy', 'gpupool'), s = get('stream', 'tcp');
  const sizes = (d[0] ?? g[0])?.result.sizes.map((x) => x.bytes) ?? [];
  sizes.forEach((bytes, i) => {
    for (const dir of ['htod', 'dtoh']) {
      const bw = (rs) => med(rs.map((r) => (bytes / r.result.sizes[i][`${dir}_ns`]) * 1e3)); // MB/s
      const dm = bw(d), gm = bw(g), sm = bw(s);
      emit({ figure: 'copy', dir, bytes, reps: (g[0] ?? d[0]).result.sizes[i].reps, trials: [d.length, g.length],
        direct_MBps: r3(dm), gpupool_MBps: r3(gm), ratio: r3(gm / dm), raw_tcp_MBps: r3(sm),
        direct_us: r3(med(d.map((r) => r.result.sizes[i][`${dir}_ns`])) / 1e3), gpupool_us: r3(med(g.map((r) => r.result.sizes[i][`${dir}_ns`])) / 1e3) });
    }
  });
}
for (const label of ['train_65536', 'train_4096', 'train_k2']) {
  const d = get(label, 'direct'), g = get(label, 'gpupool');
  if (!d.length && !g.length) continue;
  const keys = ['wall_ns', 'step_median_ns', 'step_p99_ns'];
  const ds = stat(d, keys), gs = stat(g, keys);
  const r0 = (d[0] ?? g[0]).result;
  emit({ figure: 'train_loop', batch_bytes: r0.batch_bytes, kernels: r0.kernels, steps: r0.steps, spin_ns: label === 'train_k2' ? 0 : Number(spinNs),
    trials: [d.length, g.length], direct: ds, gpupool: gs, ratio_wall: r3(gs.wall_ns / ds.wall_ns), ratio_step_median: r3(gs.step_median_ns / ds.step_median_ns),
    added_per_step_us: r3((gs.wall_ns - ds.wall_ns) / r0.steps / 1e3),
    daemon_cpu_us_per_step: r3(med(g.map((r) => r.daemon_cpu_ns / (r.result.steps + 10))) / 1e3) });
}
emit({ figure: 'failures', count: fails.length, which: fails });
fs.writeFileSync(out, lines.join('\n') + '\n');
console.log(lines.join('\n'));
JS
stamp "done"
