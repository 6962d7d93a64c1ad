/**
 * The benchmarks' output: a plain-text table for the terminal and docs/benchmarks.md, both from the
 * results bench/run.js measured in one run. Every figure is of the emulated CUDA driver on the CPU.
 */

const MiB = 1024 * 1024;

// ---- formatting ------------------------------------------------------------------------------------

const us = (ns) => (ns / 1000).toFixed(1);
const ms = (ns) => (ns / 1e6).toFixed(1);
const x = (r) => `${r.toFixed(2)}x`;
const pct = (r) => `${(r * 100).toFixed(0)}%`;
const int = (n) => Math.round(n).toLocaleString('en-US');
const mbs = (v) => (v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(1));
const size = (b) => (b >= MiB ? `${b / MiB} MiB` : `${b / 1024} KiB`);
const met = (ok) => (ok ? 'met' : '**missed**');
const metPlain = (ok) => (ok ? 'met' : 'MISSED');

function machineLine(m) {
  return `${m.cpus} vCPU ${m.virtual ? 'VM' : 'host'} (${m.cpu}), ${m.memGiB} GiB, Linux ${m.kernel}, Node ${m.node}`;
}

/** The goals of docs/benchmarks.md, each as [gpupool figure, baseline figure, ratio, goal text, met]. */
function goals(r) {
  const out = [];
  if (r.latency) {
    const ratio = r.latency.cuCtxSynchronize.median / r.latency.pingpong.median;
    out.push({
      name: '1. sync call latency (median)',
      gpupool: `${us(r.latency.cuCtxSynchronize.median)} us`,
      baseline: `${us(r.latency.pingpong.median)} us (C ${r.transport === 'unix' ? 'Unix-socket' : 'TCP'} ping-pong)`,
      ratio: x(ratio),
      goal: '<= 2x',
      ok: ratio <= 2,
    });
  }
  if (r.launches) {
    out.push({
      name: '2. async launches/s',
      gpupool: `${int(r.launches.gpupool.rate)}/s`,
      baseline: `${int(r.launches.direct.rate)}/s (emulator, direct)`,
      ratio: pct(r.launches.gpupool.rate / r.launches.direct.rate),
      goal: '>= 300,000/s',
      ok: r.launches.gpupool.rate >= 300000,
    });
  }
  if (r.copies) {
    const row = r.copies.rows.find((w) => w.bytes === 64 * MiB);
    if (row) {
      for (const dir of ['htod', 'dtoh']) {
        const ratio = row.gpupool[dir] / row.raw[dir];
        out.push({
          name: `3. ${dir === 'htod' ? 'HtoD' : 'DtoH'} throughput, 64 MiB`,
          gpupool: `${mbs(row.gpupool[dir])} MB/s`,
          baseline: `${mbs(row.raw[dir])} MB/s (raw TCP stream)`,
          ratio: pct(ratio),
          goal: '>= 85%',
          ok: ratio >= 0.85,
        });
      }
    }
  }
  if (r.train) {
    const ratio = r.train.gpupool.total / r.train.direct.total;
    out.push({
      name: '4. training-like loop (wall)',
      gpupool: `${ms(r.train.gpupool.total)} ms`,
      baseline: `${ms(r.train.direct.total)} ms (emulator, direct)`,
      ratio: x(ratio),
      goal: '<= 1.05x',
      ok: ratio <= 1.05,
    });
  }
  return out;
}

// ---- the terminal ----------------------------------------------------------------------------------

function textTable(head, rows) {
  const all = [head, ...rows];
  const widths = head.map((_, i) => Math.max(...all.map((r) => String(r[i]).length)));
  const line = (r) => r.map((c, i) => String(c).padEnd(widths[i])).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function renderConsole(r) {
  const out = [];
  out.push('');
  out.push(`gpupool benchmarks, ${r.machine.date}${r.quick ? ' (--quick: a smoke test, not for the record)' : ''}`);
  out.push(`machine: ${machineLine(r.machine)}; emulated driver (CPU): no figure here is a GPU figure`);
  out.push('');
  out.push(textTable(['benchmark', 'gpupool', 'baseline (same run)', 'ratio', 'goal', ''], goals(r).map((g) => [g.name, g.gpupool, g.baseline, g.ratio, g.goal, metPlain(g.ok)])));
  if (r.train?.small) {
    const S = r.train.small;
    out.push(`   (same loop, ${size(S.batch)} batch: ${ms(S.gpupool.total)} ms vs ${ms(S.direct.total)} ms direct, ${x(S.gpupool.total / S.direct.total)})`);
  }
  if (r.copies) {
    out.push('');
    out.push(
      textTable(
        ['size', 'HtoD gpupool MB/s', 'HtoD raw MB/s', 'ratio', 'DtoH gpupool MB/s', 'DtoH raw MB/s', 'ratio'],
        r.copies.rows.map((w) => [size(w.bytes), mbs(w.gpupool.htod), mbs(w.raw.htod), pct(w.gpupool.htod / w.raw.htod), mbs(w.gpupool.dtoh), mbs(w.raw.dtoh), pct(w.gpupool.dtoh / w.raw.dtoh)]),
      ),
    );
  }
  out.push('');
  out.push(`${r.seconds.toFixed(0)} s in all`);
  out.push('');
  return out.join('\n');
}

// ---- docs/benchmarks.md ----------------------------------------------------------------------------

function mdTable(head, rows) {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/** CPU time per unit of work, by thread, from a split (ns per unit). */
function cpuRows(split, fmt) {
  return [
    ['client: the program\'s thread', fmt(split.app)],
    ['client library: receiver + sender threads', fmt(split.lib)],
    ['daemon: main thread (JS event loop: WebSocket, unmasking, hand-off, replies)', fmt(split.dMain)],
    ['daemon: the session\'s native thread (decoding, driver calls, the emulator\'s work)', fmt(split.dSession)],
    ['daemon: other threads (V8 GC and compiler, libuv pool)', fmt(split.dOthers)],
  ];
}

function cpuTable(split, unit, fmt) {
  const rows = cpuRows(split, fmt);
  const total = split.app + split.lib + split.dMain + split.dSession + split.dOthers;
  return mdTable(['thread', `CPU per ${unit}`], [...rows, ['**all of them**', `**${fmt(total)}**`]]);
}

export function renderMarkdown(r) {
  const m = r.machine;
  const P = r.params;
  const label = `${machineLine(m)}; **emulated driver (CPU)**`;
  const md = [];
  const g = goals(r);
  md.push(`# Benchmarks of the cross-pull path

This file is written by \`npm run bench\` (\`bench/run.js\`); edit the generator (\`bench/report.js\`),
not this file. Every figure below was measured on the **emulated CUDA driver (CPU)**
(docs/emulator.md) on the machine named with each table. **None of them is a GPU figure**: they
measure gpupool's own path (client library, WebSocket, daemon, session thread) around a driver
whose work is a CPU model. Each comparison is a ratio against a baseline measured **in the same
run**, trials interleaved (baseline, gpupool, baseline, ...) so that both see the same machine; a
figure is the median of the trials. Absolute numbers move by tens of percent from run to run on
these small shared VMs; the ratios are what the goals are set on.
The plots (\`docs/img/bench-*.svg\`) are drawn by each benchmark from its own results when it writes
its section, and name their run; \`npm run bench:plots\` (\`bench/plots.js\`) draws them again from the
saved runs in \`bench/results/\`.

How a run works: \`bench/run.js\` builds the C programs of \`bench/programs/\` into a temporary
folder (\`cc -O2\`, linked to the name \`libcuda.so.1\` as every CUDA program is; the test kernels
as a ${r.imageKind} image), starts \`gpupool daemon --simulate\` on 127.0.0.1 with port 0 (the
address is read from its JSON \`listening\` log line) and runs each program through
\`gpupool run --servers ws://ADDR -- PROGRAM ...\`. The emulator reads its time model at \`cuInit\`,
so the daemon runs with the settings of the benchmarks it serves: one daemon with
\`GPUPOOL_EMU_KERNEL_NS=0 GPUPOOL_EMU_COPY_BYTES_PER_NS=1000000\` for benchmarks 1-3, then one with
\`GPUPOOL_EMU_KERNEL_NS=50000\` for benchmark 4. Each program measures itself with
\`clock_gettime(CLOCK_MONOTONIC)\` and prints one line of JSON. The programs also report the CPU time
of each of their threads over the timed region, and the runner reads the daemon's CPU time by thread
from \`/proc\` around each run: that is the "where the time goes" data below.

## The run

| | |
|---|---|
| date | ${m.date} |
| machine | ${machineLine(m)} |
| driver | emulated CUDA driver (CPU), \`build/native/fakes/cuda/libcuda.so.1\`, default simulation fixture |
| ws native helper (\`bufferutil\`) | ${m.bufferutil ? 'present: the daemon unmasks client frames natively' : 'absent: the daemon\'s `ws` unmasks client frames in JavaScript'} |
| 1-minute load average | ${m.loadBefore.toFixed(2)} before the run (other work on the machine), ${m.loadAfter.toFixed(2)} after it (the run's own included) |
| duration | ${r.seconds.toFixed(0)} s |

## Results

${label}.

${mdTable(
  ['benchmark', 'gpupool', 'baseline (same run)', 'ratio', 'goal', ''],
  g.map((e) => [e.name, e.gpupool, e.baseline, e.ratio, e.goal, met(e.ok)]),
)}
`);

  if (r.latency) md.push(latencySection(r, label));
  if (r.launches) md.push(launchSection(r, label));
  if (r.copies) md.push(copySection(r, label));
  if (r.train) md.push(trainSection(r, label));
  if (r.fuzz) md.push(renderFuzzSection(r.fuzz));
  md.push(closingSection(r));
  return md.join('\n');
}

function latencySection(r, label) {
  const L = r.latency;
  const ratio = L.cuCtxSynchronize.median / L.pingpong.median;
  const s = L.split;
  const cpu = s.app + s.lib + s.dMain + s.dSession + s.dOthers;
  return `## 1. Synchronous forwarded call latency

**What is timed.** \`bench/programs/sync_latency.c\` makes ${int(L.calls)} synchronous calls that do no
work on the daemon (\`cuCtxSynchronize\` on an idle primary context; also \`cuStreamQuery(NULL)\`),
after 1,000 warm-up calls, and times each one; the figures are the median and the 99th percentile
of one call, median over ${L.trials} trials. **Baseline:** \`bench/programs/pingpong.c\`, a bare C TCP
ping-pong over 127.0.0.1 between two processes (a forked server), \`TCP_NODELAY\`, a ${L.request}-byte
request and a ${L.reply}-byte reply (about the size of the call's WebSocket frames), timed the same
way. **Goal:** median call <= 2x the ping-pong round trip.

${label}.

${mdTable(
  ['', 'median', 'p99', 'mean', 'median vs ping-pong', 'p99 vs ping-pong'],
  [
    ['C TCP ping-pong (baseline)', `${us(L.pingpong.median)} us`, `${us(L.pingpong.p99)} us`, `${us(L.pingpong.mean)} us`, '1.00x', '1.00x'],
    ['gpupool \`cuCtxSynchronize\`', `${us(L.cuCtxSynchronize.median)} us`, `${us(L.cuCtxSynchronize.p99)} us`, `${us(L.cuCtxSynchronize.mean)} us`, x(L.cuCtxSynchronize.median / L.pingpong.median), x(L.cuCtxSynchronize.p99 / L.pingpong.p99)],
    ['gpupool \`cuStreamQuery\`', `${us(L.cuStreamQuery.median)} us`, `${us(L.cuStreamQuery.p99)} us`, `${us(L.cuStreamQuery.mean)} us`, x(L.cuStreamQuery.median / L.pingpong.median), x(L.cuStreamQuery.p99 / L.pingpong.p99)],
  ],
)}

Goal <= 2x: ${met(ratio <= 2)} (${x(ratio)}).

**Where the time goes.** CPU time per call, by thread (the program's figures cover the timed calls;
the daemon's cover the whole connection, warm-up included, divided by all the calls made).

${label}.

${cpuTable(s, 'call', (v) => `${us(v)} us`)}

A call costs ${us(cpu)} us of CPU over all these threads against ${us(L.cuCtxSynchronize.mean)} us of wall time
(${pct(cpu / L.cuCtxSynchronize.mean)}). The threads run one after another (each waits for the previous one), so the wall
time follows the sum of their CPU time: the cost is the length of the chain, and much of each link's
CPU time is spent waking the next link. A profile of the daemon's main thread during this benchmark (\`perf\`, by
hand, same VM, 2026-11-25) puts about a third of its samples in the kernel's wake-up and
context-switch path (\`sock_def_readable\` -> \`try_to_wake_up\`, \`finish_task_switch\`): on a VM, waking a
thread that sleeps on another vCPU costs the waker tens of microseconds. The ping-pong wakes two
threads per round trip (the server, then the client). A forwarded call wakes five, one after the
other, plus a sixth for nothing:
1. the daemon's main thread (libuv) is woken by the request, parses the WebSocket frame in
   JavaScript and queues the message for the session (\`submit\`);
2. the session's native thread is woken (\`std::condition_variable\`), runs the call and posts the
   reply through a \`ThreadSafeFunction\`;
3. the main thread is woken again (\`uv_async\`) to hand the reply to \`ws.send\`;
4. the client library's receiver thread is woken by the reply and finds the waiting call;
5. the calling thread is woken through a condition variable (\`deliver\`/\`gp_conn_wait\` in
   \`native/shim/conn.c\`);
6. and every call also signals the client library's sender thread (\`gp_conn_append\` does
   \`pthread_cond_signal(&batch_ready)\` for synchronous calls too, which their caller then flushes
   itself), a wake-up that does no work and competes for the two vCPUs.

The daemon's main thread takes ${us(s.dMain)} us per call here (${pct(s.dMain / cpu)} of the CPU time): besides its
two wake-ups it runs \`ws\`'s frame parsing, the N-API hand-off, a \`Buffer\` per reply and \`ws.send\`.

**Next steps, in order of expected gain:**
- Daemon: take the JavaScript event loop off the call path. Let the session thread own the socket
  of a compute connection after the handshake (the fd handed to the addon, frames read and written
  natively), or at least write replies from the session thread instead of going back through the
  \`ThreadSafeFunction\` and \`ws.send\`. That removes two of the five wake-ups.
- Client: let a thread waiting for a synchronous reply read the socket itself when no other thread
  is reading (leader/follower), instead of being woken by the receiver thread; and do not signal
  the sender thread for a call that its caller flushes itself. One to two wake-ups fewer.
- Both: spin briefly (a few microseconds) before blocking where a reply is expected at once.
`;
}

function launchSection(r, label) {
  const L = r.launches;
  const s = L.split;
  const ok = L.gpupool.rate >= 300000;
  return `## 2. Asynchronous kernel launches per second

**What is timed.** \`bench/programs/launch_rate.c\` launches ${int(L.count)} \`spin\` kernels (one \`int\`
parameter) on the legacy stream with the daemon's \`GPUPOOL_EMU_KERNEL_NS=0\` (the emulated kernel
takes no modelled time), then calls \`cuCtxSynchronize\` once; the rate is launches over the time from
the first launch to the synchronisation's return, median of ${L.trials} trials, after 2,000 warm-up
launches. **Reference:** the same program run directly on the emulated driver
(\`LD_LIBRARY_PATH=build/native/fakes/cuda\`, \`GPUPOOL_SIM_FIXTURE\`, \`GPUPOOL_EMU_KERNELS\` and the same
emulator settings), in the same run. **Goal:** >= 300,000 launches/s through gpupool.

${label}.

${mdTable(
  ['', 'launches/s', 'vs direct'],
  [
    ['emulated driver, direct (reference)', int(L.direct.rate), '100%'],
    ['gpupool, first launch to the sync\'s return', int(L.gpupool.rate), pct(L.gpupool.rate / L.direct.rate)],
    ['gpupool, the launch calls alone (enqueue rate)', int(L.gpupool.enqueue), pct(L.gpupool.enqueue / L.direct.rate)],
  ],
)}

Goal >= 300,000/s: ${met(ok)} (${int(L.gpupool.rate)}/s).

**Where the time goes.** CPU time per launch, by thread; launches travel batched:
${s.messages.toFixed(4)} WebSocket messages per launch, i.e. about ${int(1 / s.messages)} launches per message.

${label}.

${cpuTable(s, 'launch', (v) => `${(v / 1000).toFixed(2)} us`)}

The client's thread pays for packing each launch (its parameters by the cached layout) and a
mutex-protected append; the session thread decodes each frame and calls the emulator, whose own
launch costs about ${(1e9 / L.direct.rate).toFixed(0)} ns (the direct reference). Batching keeps the
per-message costs (the JavaScript hand-off, the thread wake-ups) off the per-launch budget. The goal
is met with a wide margin, so nothing here is urgent; if the rate ever matters, the first candidate
is the \`pthread_cond_signal\` of the sender thread on every append (a futex wake whenever the sender
is asleep): signalling only when the batch goes from empty to non-empty would remove most of those
system calls.
`;
}

function copySection(r, label) {
  const m = r.machine;
  const C = r.copies;
  const row = C.rows.find((w) => w.bytes === C.profileSize);
  const pr = C.profile;
  const fmt = (v) => `${(v / 1e6).toFixed(2)} ms`;
  const htodOk = row && row.gpupool.htod / row.raw.htod >= 0.85;
  const dtohOk = row && row.gpupool.dtoh / row.raw.dtoh >= 0.85;
  const rawMsPerMiB = row ? (MiB / row.raw.htod) * 1e-3 : 0; // MB/s -> ms per MiB
  const rawDtohMsPerMiB = row ? (MiB / row.raw.dtoh) * 1e-3 : 0;
  return `## 3. Host-to-device and device-to-host throughput

**What is timed.** \`bench/programs/copy_bw.c\` copies each size with synchronous \`cuMemcpyHtoD\` and then
\`cuMemcpyDtoH\` from pageable host memory (touched beforehand), repeating each enough to move about
${C.target / MiB} MiB (at least 3, at most 400 times) after one warm-up copy; the figure is the median
repetition, then the median of ${C.trials} trials. The daemon runs with
**\`GPUPOOL_EMU_COPY_BYTES_PER_NS=1000000\`**, so the emulated copy engine's modelled time (25 GB/s by
default) is negligible and what is measured is gpupool's path plus the emulator's \`memcpy\` into or
out of its device memory. **Baseline:** \`bench/programs/stream.c\`, the same byte counts over a raw
TCP connection on 127.0.0.1 between two processes (\`TCP_NODELAY\`): "HtoD" sends a 16-byte header and
the bytes to a sink that reads them into its buffer and answers 16 bytes; "DtoH" sends a 16-byte
request and reads the bytes the server writes from its buffer. Same sizes, same repetition counts,
same statistics. MB/s are 10^6 bytes per second. **Goal:** >= 85% of the raw stream at 64 MiB.

${label}.

${mdTable(
  ['size', 'reps', 'HtoD gpupool MB/s', 'HtoD raw MB/s', 'HtoD ratio', 'DtoH gpupool MB/s', 'DtoH raw MB/s', 'DtoH ratio'],
  C.rows.map((w) => [size(w.bytes), w.reps, mbs(w.gpupool.htod), mbs(w.raw.htod), pct(w.gpupool.htod / w.raw.htod), mbs(w.gpupool.dtoh), mbs(w.raw.dtoh), pct(w.gpupool.dtoh / w.raw.dtoh)]),
)}

![Copy throughput by size, gpupool against the raw TCP stream](img/bench-copies.svg)

Goal >= 85% at 64 MiB: HtoD ${met(htodOk)} (${row ? pct(row.gpupool.htod / row.raw.htod) : 'n/a'}), DtoH ${met(dtohOk)} (${row ? pct(row.gpupool.dtoh / row.raw.dtoh) : 'n/a'}).

Small copies are latency-bound (one synchronous round trip each, see benchmark 1): at 4-16 KiB the
ratio follows from the call latency; from 64 KiB on, from the passes over the data listed below.

**Where the time goes at ${size(C.profileSize)}.** CPU time per MiB copied, from one extra run per
direction (${pr.htod.reps} repetitions, the warm-up copy included in the daemon's figures), against
${(pr.htod.wall / 1e6).toFixed(2)} ms (HtoD) and ${(pr.dtoh.wall / 1e6).toFixed(2)} ms (DtoH) of wall time per MiB in that run; the raw
stream needs ${rawMsPerMiB.toFixed(2)} / ${rawDtohMsPerMiB.toFixed(2)} ms per MiB.

${label}.

${mdTable(
  ['thread', 'HtoD CPU per MiB', 'DtoH CPU per MiB'],
  [
    ...cpuRows(pr.htod, fmt).map(([name], i) => [name, fmt([pr.htod.app, pr.htod.lib, pr.htod.dMain, pr.htod.dSession, pr.htod.dOthers][i]), fmt([pr.dtoh.app, pr.dtoh.lib, pr.dtoh.dMain, pr.dtoh.dSession, pr.dtoh.dOthers][i])]),
    ['**all of them**', `**${fmt(pr.htod.app + pr.htod.lib + pr.htod.dMain + pr.htod.dSession + pr.htod.dOthers)}**`, `**${fmt(pr.dtoh.app + pr.dtoh.lib + pr.dtoh.dMain + pr.dtoh.dSession + pr.dtoh.dOthers)}**`],
  ],
)}

The raw stream touches each byte twice (the kernel's copy into the socket and out of it). A
synchronous copy through gpupool touches it many more times, and on this 2-vCPU machine the extra
passes are the throughput:

*Host to device* (a 64 MiB copy is one WebSocket message):
1. client: \`gp_put_bin\` copies the caller's buffer into the call's argument buffer, then
   \`gp_conn_append\` copies it again into the batch (two passes, \`native/shim/call.c\`, \`conn.c\`);
2. client: wslay masks the payload one byte at a time into a 4 KiB scratch buffer, and \`on_send\`
   copies each 4 KiB piece into a 64 KiB output buffer before \`send\` (\`native/shim/ws.c\`): a slow
   pass and a copy, with a system call per 64 KiB;
3. daemon, main thread: \`ws\` gathers the socket's chunks and joins them into one Buffer (a copy) and
   unmasks it${m.bufferutil ? ' (natively, bufferutil)' : ' **in JavaScript, one byte per loop iteration**, because its optional native helper `bufferutil` is not installed: about half of the daemon main thread\'s time above (see the first next step)'};
   the V8 GC threads then work on the large external Buffers;
4. daemon, session thread: the emulator copies the bytes into its device memory (this pass stands
   for the real driver's DMA and would remain).

*Device to host:*
1. daemon, session thread: the generated handler allocates a zero-filled \`std::vector\` of the
   copy's size (\`addon_ops.inc\`: a fresh \`mmap\` of 64 MiB, so every page faults and is zeroed), the
   emulator copies into it, then \`Writer::bin\` grows the reply vector (zero-filled and faulted again)
   and copies it once more (\`native/addon/wire.cc\`);
2. daemon, main thread: the reply Buffer goes out through \`ws.send\` (no copy: server frames are not
   masked);
3. client, receiver thread: wslay reads through a 4 KiB buffer (\`on_recv\` copies from a 64 KiB
   \`recv\` buffer), \`gp_ws_recv\` appends each piece to the message buffer, and \`deliver\` copies the
   payload into the caller's buffer (three passes).

**Next steps, in order of expected gain:**
- Daemon: \`ws\`'s native helper \`bufferutil\` is now a dependency (it was the first step named by the
  first run of this benchmark, when it was absent: JavaScript unmasking took about 105 ms per 64 MiB,
  \`bufferutil\` 4 to 7 ms; HtoD at 64 MiB went from 235-282 MB/s to about 420 MB/s). What remains on the
  daemon's main thread (\`perf\`, by hand, 2026-11-25) is a quarter page faults and zeroing of freshly
  allocated memory (libuv's 64 KiB read buffers, \`ws\`'s message buffer, every message), the socket's
  copy, \`ws\`'s copy that joins the chunks, and GC marking; only taking bulk data off the JavaScript
  thread (the session thread reading the socket into a reused buffer) removes those.
- Daemon: for device-to-host, reserve the reply's header and let the driver copy straight into the
  reply buffer (one allocation, no zero-fill: \`std::vector<char>\` value-initialises; use
  \`std::unique_ptr<char[]>(new char[n])\` or a reused buffer), and keep large buffers off fresh
  \`mmap\`s (reuse them, or \`mallopt(M_MMAP_THRESHOLD)\`) so that pages do not fault on every copy.
- Client: send a large copy without gathering it into the batch: write the frame header and the
  caller's buffer with \`writev\`, masking in 64 KiB+ chunks with word-wide XOR (or SIMD) instead of
  wslay's byte loop and 4 KiB pieces; on receive, read a large payload straight into the caller's
  buffer (the pending call's \`out_dst\` is known before the payload arrives).
- Bulk data on its own connection (or its own thread on the daemon), so that a 64 MiB transfer
  neither waits behind nor delays the small calls of other threads.

Even with all of these, the emulator's own \`memcpy\` into device memory and WebSocket masking and
unmasking (the RFC requires the client to mask) remain three passes over the data that the raw
stream does not make; on two vCPUs shared by both ends, 85% of a raw loopback stream is likely out of
reach for that reason alone. Between two hosts, where the link rather than memory bandwidth is the
limit, the same passes overlap with the transfer and matter far less; this loopback benchmark is
the worst case for them.
`;
}

function trainSection(r, label) {
  const T = r.train;
  const ratio = T.gpupool.total / T.direct.total;
  const s = T.split;
  const perStep = T.gpupool.total / T.steps - T.direct.total / T.steps;
  const modelled = T.kernels * T.kernelNs;
  const S = T.small;
  const fmt = (v) => `${us(v)} us`;
  const pick = (v) => [v.app, v.lib, v.dMain, v.dSession, v.dOthers];
  const sum = (v) => pick(v).reduce((a, b) => a + b, 0);
  return `## 4. A training-like loop

**What is timed.** \`bench/programs/train_loop.c\`: ${T.steps} steps, each an asynchronous
host-to-device copy of a ${size(T.batch)} batch (\`cuMemcpyHtoDAsync\`), ${T.kernels} kernel launches on one
stream (a \`scale\` over the batch, ${T.kernels - 2} \`spin\`, a \`saxpy\` that folds the batch into a
one-float loss), an asynchronous device-to-host copy of the loss (\`cuMemcpyDtoHAsync\`) and a
\`cuStreamSynchronize\` (as \`loss.item()\` does). Every kernel takes ${T.kernelNs / 1000} us of modelled device
time (\`GPUPOOL_EMU_KERNEL_NS=${T.kernelNs}\`), so a step holds ${(modelled / 1e6).toFixed(2)} ms of device
work; copies follow the emulator's default 25 GB/s. The program checks the loss it reads back. Timed:
the whole loop after 10 warm-up steps, median of ${T.trials} trials. **Baseline:** the same program
directly on the emulated driver with the same settings, in the same run. **Goal:** <= 1.05x. The
same loop with a ${S ? size(S.batch) : 'smaller'} batch (${S ? S.trials : 0} trials) separates what a step costs from what its
bytes cost.

${label}.

${mdTable(
  ['batch', '', 'loop', 'per step (median)', 'per step (p99)', 'vs direct'],
  [
    [size(T.batch), 'emulated driver, direct (baseline)', `${ms(T.direct.total)} ms`, `${us(T.direct.step)} us`, `${us(T.direct.p99)} us`, '1.00x'],
    [size(T.batch), '**gpupool**', `**${ms(T.gpupool.total)} ms**`, `${us(T.gpupool.step)} us`, `${us(T.gpupool.p99)} us`, `**${x(ratio)}**`],
    ...(S
      ? [
          [size(S.batch), 'emulated driver, direct (baseline)', `${ms(S.direct.total)} ms`, `${us(S.direct.step)} us`, `${us(S.direct.p99)} us`, '1.00x'],
          [size(S.batch), 'gpupool', `${ms(S.gpupool.total)} ms`, `${us(S.gpupool.step)} us`, `${us(S.gpupool.p99)} us`, x(S.gpupool.total / S.direct.total)],
        ]
      : []),
  ],
)}

Goal <= 1.05x (on the ${size(T.batch)} batch): ${met(ratio <= 1.05)} (${x(ratio)}; gpupool adds ${us(perStep)} us per step of ${(modelled / 1000).toFixed(0)} us of modelled device work${
    S ? `; with a ${size(S.batch)} batch it adds ${us(S.gpupool.total / T.steps - S.direct.total / T.steps)} us (${x(S.gpupool.total / S.direct.total)}, ${S.trials} trials)` : ''
  }).

**Where the time goes.** CPU time per step, by thread; a step travels as ${s.messages.toFixed(2)} WebSocket
messages (launches are batched).

${label}.

${mdTable(
  ['thread', `CPU per step, ${size(T.batch)} batch`, ...(S ? [`CPU per step, ${size(S.batch)} batch`] : [])],
  [
    ...cpuRows(s, fmt).map(([name], i) => [name, fmt(pick(s)[i]), ...(S ? [fmt(pick(S.split)[i])] : [])]),
    ['**all of them**', `**${fmt(sum(s))}**`, ...(S ? [`**${fmt(sum(S.split))}**`] : [])],
  ],
)}

The device work of a step cannot start before its first launch reaches the daemon, and the step
cannot end before the loss's reply is back: each step pays at least one round trip that the direct
run does not.${
    r.latency
      ? ` Here gpupool adds ${us(perStep)} us per step, ${(perStep / r.latency.cuCtxSynchronize.median).toFixed(1)} times the median synchronous call of benchmark 1 (${us(r.latency.cuCtxSynchronize.median)} us). The goal allows ${us(modelled * 0.05)} us per step (5% of ${(modelled / 1000).toFixed(0)} us), and the **bare** C TCP round trip on this VM is ${us(r.latency.pingpong.median)} us (benchmark 1's baseline, ${pct(r.latency.pingpong.median / modelled)} of a step). ${
          r.latency.pingpong.median >= modelled * 0.05
            ? `So in this run no design that waits for the daemon's answer once per step over TCP could meet 1.05x with ${(modelled / 1e6).toFixed(0)} ms steps: even with every extra hop removed the overhead would be about one bare round trip (${x(1 + r.latency.pingpong.median / modelled)}); the goal needs steps of at least ${(r.latency.pingpong.median / 0.05 / 1e6).toFixed(1)} ms at this round-trip time, or a faster loopback.`
            : `So the goal leaves ${us(modelled * 0.05 - r.latency.pingpong.median)} us per step beyond one bare round trip: it is reachable only if a step costs little more than one ping-pong, i.e. with the hops of benchmark 1 removed.`
        }`
      : ''
  } Around it, the step's messages each cross the daemon's main thread
twice (in, and back through the \`ThreadSafeFunction\` for the replies and to release the message),
and that thread unmasks the ${size(T.batch)} batch${r.machine.bufferutil ? '' : ' in JavaScript (about 1.6 ns per byte here, see benchmark 3)'}; on
two vCPUs that work competes with the client's threads and the session thread while the step runs.

**Next steps:** the latency work of benchmark 1 (fewer thread hops per round trip) and the
unmasking of benchmark 3 (\`bufferutil\`) are what this loop needs; beyond them, a step could hide
its round trip only if the program itself pipelined (the next step's launches queued before the
loss is read), which a real training loop with \`loss.item()\` every step does not do.
`;
}

// ---- fuzzing (bench/fuzz.js) ------------------------------------------------------------------------

const FUZZ_BEGIN = '<!-- fuzzing: written by bench/fuzz.js from bench/results/fuzz.json -->';
const FUZZ_END = '<!-- end of fuzzing -->';

/** The document with its fuzzing section replaced, or inserted before the closing sections. */
export function replaceFuzzSection(doc, section) {
  const begin = doc.indexOf(FUZZ_BEGIN);
  const end = doc.indexOf(FUZZ_END);
  if (begin >= 0 && end > begin) return `${doc.slice(0, begin)}${section}${doc.slice(end + FUZZ_END.length + 1)}`;
  const at = doc.indexOf('## Found while measuring');
  return at >= 0 ? `${doc.slice(0, at)}${section}\n${doc.slice(at)}` : `${doc}\n${section}`;
}

export function renderFuzzSection(f) {
  const D = f.daemon;
  const F = f.decoder;
  const P = f.params;
  const mib = (b) => `${(b / MiB).toFixed(0)} MiB`;
  const outcomes = Object.entries(D.outcomes)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k}: ${int(v)}`)
    .join(', ');
  return `${FUZZ_BEGIN}
## Fuzzing

Bad input must cost a client its own connection and nothing else (docs/protocol.md, "Limits" and
"Errors"). \`bench/fuzz.js\` (\`npm run bench:fuzz\`, run by hand and not by \`npm run bench\`; its last
results are kept in \`bench/results/fuzz.json\`) measures that at scale, in two parts. The short
versions run with every \`npm test\` (\`test/compute/fuzz.test.ts\`, \`test/compute/decode-fuzz.test.ts\`).

**The daemon.** ${int(P.cases)} seeded cases (seed ${P.seed}; \`src/protocol/fuzz/cases.ts\`) of
${Object.keys(D.kinds).length} kinds, ${P.concurrency} connections at a time, over real WebSockets to
\`gpupool daemon --simulate\` with \`compute.maxMessageBytes\` ${mib(P.limits.maxMessageBytes)} and
\`compute.maxQueuedBytes\` ${mib(P.limits.maxQueuedBytes)}: random bytes, truncated msgpack, huge declared
lengths and counts, wrong types, missing and extra arguments, unknown ops, call frames before HELLO and
a second HELLO after it, out-of-order and duplicate sequence numbers, forged and stale handles and
contexts, wild device pointers, random module images and launches; plus ${P.floods} floods (one message
of 10,000 to 50,000 fuzzed fire-and-forget frames, or ${mib(P.floodBytes)} of messages sent without
waiting) and ${P.oversized} messages one byte over the limit. A case that breaks the protocol must close
its connection with 4001, 4002, 1007 or 1009 (connections are reused until one does: a valid HELLO,
then case after case); a well-formed one must be answered (a refused call is an answer); none may go
unanswered for ${P.timeoutMs / 1000} s. Meanwhile a well-behaved client writes random bytes to its own
device memory and reads them back, over and over, and compares.

${hostileParagraph(f)}**The client library's decoder.** \`native/shim/fuzz/decode_fuzz\` (\`make -C native fuzz\`, clang's
libFuzzer with AddressSanitizer and UBSan) decodes WELCOMEs and reply frames of any bytes with
\`native/shim/decode.c\`, the code the client library's receiver runs, for ${P.decoderSeconds} s from a seed
corpus (\`native/shim/fuzz/seeds.mjs\`).

${machineLine(f.machine)}, ${f.machine.date}; **emulated driver (CPU)**.

${mdTable(
  ['', ''],
  [
    ['daemon: cases', `${int(D.cases)} (${int(D.connections)} connections)`],
    ['daemon: frames tried', `**${int(D.frames)}**, each drawn on its own (and ${int(D.repeatedFrames)} repeated copies in the many-messages floods), in ${int(D.messages)} messages, ${mib(D.bytes)}, ${D.seconds.toFixed(0)} s`],
    ['how they ended', outcomes],
    ['cases that ended otherwise', `**${int(D.failureCount)}**`],
    ['daemon crashes', `**${D.crashes}** (${D.alive ? 'alive at the end' : 'not alive at the end'})`],
    ['well-behaved client', `${int(D.wellBehaved.rounds)} rounds, ${D.wellBehaved.errors.length} errors`],
    ['daemon RSS', `${mib(D.rss.before)} before, ${mib(D.rss.peak)} at the peak, ${mib(D.rss.after)} after`],
    ...hostileRows(f),
    ['decoder: inputs', `**${int(F.execs)}** in ${F.seconds.toFixed(0)} s (${int(F.execsPerSecond)}/s), corpus ${int(F.corpus)}`],
    ['decoder crashes (and ASan/UBSan reports)', `**${F.crashes}**`],
    ['1-minute load average', `${f.machine.loadBefore.toFixed(2)} before, ${f.machine.loadAfter.toFixed(2)} after (the machine is shared: rates, not the outcomes, depend on it)`],
  ],
)}

The daemon's memory after the run stays above where it started: V8's heap and glibc's per-thread
malloc arenas keep what they grew to. It does not grow with the number of sessions: by hand
(2026-11-25, same VM), five rounds of 5,000 cases against one daemon left it at 112, 113, 114, 114 and
120 MiB, and five rounds of 2,000 plain sessions at 112 to 115 MiB.

**Found by fuzzing, and fixed** (while the fuzzers were written, 2026-11-25):
- The daemon crashed (\`RangeError\`, from \`ws\`) when a HELLO it could not decode made a close reason
  longer than a close frame holds: the reason quoted the client's bytes, and cutting it to 120
  characters left more than 123 bytes of UTF-8. Close reasons are now cut by bytes.
- The daemon crashed (SIGSEGV) on a call frame with an array or map declaring 2^31 elements or more:
  msgpuck's \`mp_check\` (1.0.3) keeps its count of values still expected in an \`int\`, so such a count
  wraps it, the check passes a frame shorter than its own elements, and skipping the rest of the frame
  read past the message. Both ends now check msgpack with \`native/common/mp_check.c\` (64-bit counts,
  never more than the bytes left); the fuzzer has a case kind for it. The client library had the same
  hole: the decoder harness, built with msgpuck's check, finds the overflow in seconds.
- The client library's WELCOME parser stepped out of line on a field of an unexpected type, and then
  read past the message: the decoder harness run on the old parser (with the fixed check) finds a
  heap-buffer-overflow within a minute. The parser (now \`native/shim/decode.c\`) steps over whole
  values only.

**Found on the way, and fixed** (by reading the code the fuzzers exercise):
- A device-to-host reply that was not the data asked for left its caller waiting forever in the
  client library (the call was taken off the pending list before the reply was found malformed); it
  now fails with \`CUDA_ERROR_DEVICE_UNAVAILABLE\`, as on a lost connection.
- A device-to-host copy refused by the bounds check still made the daemon allocate (and zero) its
  output buffer, up to 2 GiB per call; buffers are now allocated after the check.
${FUZZ_END}
`;
}

/** The clients that never authenticate (bench/hostile.js), in results that have them. */
function hostileParagraph(f) {
  const H = f.hostile;
  if (!H) return '';
  const P = f.params;
  return `**Clients that never authenticate.** Against a daemon with a token file, at its defaults
(docs/security.md, "Limits before authentication"): ${P.preauth.connections} connections each announce one first
message of ${(P.preauth.bytes / MiB).toFixed(0)} MiB and stream it without a HELLO; then ${int(P.slow.silent)} silent TCP connections and
${int(P.slow.slowloris)} slowloris ones (an upgrade request, a header line every ${P.slow.lineMs / 1000} s) from ${P.slow.addresses} loopback addresses,
watched for ${P.slow.observeMs / 1000} s.

`;
}

function hostileRows(f) {
  const H = f.hostile;
  if (!H) return [];
  const mib = (b) => `${(b / MiB).toFixed(0)} MiB`;
  const closed = H.slow.closedWithinMs ? `, closed by the daemon between ${(H.slow.closedWithinMs.min / 1000).toFixed(1)} and ${(H.slow.closedWithinMs.max / 1000).toFixed(1)} s after they opened` : '';
  return [
    ['huge first messages before HELLO', `daemon RSS ${mib(H.preauth.rss.before)} before, ${mib(H.preauth.rss.peak)} at the peak, ${mib(H.preauth.rss.after)} after`],
    ['slow connections still open at the end', `**${int(H.slow.openAtEnd)}** of ${int(H.slow.silent + H.slow.slowloris)}${closed}`],
  ];
}

function closingSection(r) {
  void r;
  return `## Found while measuring, and what became of it

- Fixed (2026-11-25): the client library signalled its sender thread for synchronous calls too,
  which flush themselves: a useless wake-up per call on the latency path (benchmark 1).
- Fixed: the daemon's addon answered every client message with a \`ThreadSafeFunction\` call, even
  one with no reply; it now posts once per burst (when there are replies or its queue runs dry).
- Fixed: \`ws\` ran without its native \`bufferutil\` helper (benchmark 3).
- Fixed: the client library never closed its connections, so the daemon logged every ordinary exit as
  close code 1006 and asynchronous calls still batched at exit were dropped (by hand: a program that
  launched 100,000 kernels and returned from \`main\` without synchronising got 54,000 to 66,000 of
  them to the daemon). A destructor now flushes and closes normally (1000).
- Open: the generated \`cuMemcpyDtoH\` handler allocates its output zero-filled and then copies it
  into a second zero-filled, growing reply vector (benchmark 3).

## On a real card

\`npm run bench\` measures gpupool on the emulated driver. The same programs were run on a real NVIDIA
H200, directly and through gpupool against a daemon on the real driver, by \`bench/gpu-bench.sh\`; the
figures, the method and what they say are in docs/gpu-validation.md (section "overheads on the card"),
next to the run they come from.

## Reproducing

\`npm run bench\` (builds first; needs the CUDA toolkit's headers, and \`nvcc\` for the kernel image or
falls back to \`bench/programs/test_kernels.ptx\`). \`node bench/run.js --quick --no-write\` is a smoke
test with one short trial of each; \`--only 1,3\` runs some of the benchmarks (the document is
rewritten only by a full run). Files: \`bench/run.js\` (driver), \`bench/report.js\` (this document),
\`bench/programs/\` (\`bench.h\`, \`net.h\`, \`sync_latency.c\`, \`pingpong.c\`, \`launch_rate.c\`,
\`copy_bw.c\`, \`stream.c\`, \`train_loop.c\`, \`test_kernels.ptx\`).
`;
}
