/**
 * How the conformance run (bench/cuda-samples/run.js) judges one sample from its exit and its output,
 * and the Markdown table docs/compatibility.md keeps. Kept apart from the run so that a test checks it
 * without the samples (test/bench/cuda-samples-report.test.ts).
 */

/*
 * What gpupool documents as absent, by the calls that need it (docs/operations.md, "Managed memory" and
 * the IPC paragraph; docs/compatibility.md, "Absent by design"). A sample that fails after gpupool
 * refused one of these is waived with the reason, as the samples waive themselves on hardware that
 * lacks a feature.
 */
export const ABSENT = [
  { calls: /^cuMem(AllocManaged|Prefetch|Advise|RangeGetAttribute)/, feature: 'managed memory', doc: 'docs/operations.md, "Managed memory"' },
  { calls: /^cu(Ipc|MemExportToShareableHandle|MemImportFromShareableHandle|MemPoolExport|MemPoolImport)/, feature: 'inter-process memory handles', doc: 'docs/operations.md, IPC handles' },
  { calls: /^cu(GL|Graphics|EGL|Vk|D3D|VDPAU)/, feature: 'graphics interop', doc: 'docs/compatibility.md, "Absent by design"' },
];

// A sample that opens a window (GLUT) before its CUDA work: no display here, so no gpupool result.
const NO_DISPLAY = /failed to open display|X server is not running|cannot open display/i;

const NAMED = /gpupool: (\S+(?: \(legacy\))?) is not (carried by gpupool|supported)/g;
const NO_KERNEL = /no kernel image is available|CUDA_ERROR_NO_BINARY_FOR_GPU|cudaErrorNoKernelImageForDevice/;

/** The calls gpupool named on the job's stderr as not carried or not supported, each once, in order. */
export function namedCalls(output) {
  return [...new Set([...output.matchAll(NAMED)].map((m) => m[1]))];
}

/** The absent feature a call needs, or undefined. */
export function absentFeature(call) {
  return ABSENT.find((a) => a.calls.test(call));
}

/**
 * One sample's result from how it ended: { result: pass | fail | waived, why, notCarried }. Exit status 0
 * passes, 2 (the samples' EXIT_WAIVED) waives; a failure after gpupool refused a call of a documented-
 * absent feature, or for want of an X display (OpenGL samples), is waived naming it; any other failure names the calls gpupool refused, a kernel
 * the emulator has no CPU implementation of, and the sample's last words.
 */
export function judge({ output, code, signal, timeoutSeconds }) {
  const notCarried = namedCalls(output);
  const last = output.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('gpupool: ')).slice(-1)[0] ?? '';
  if (signal) return { result: 'fail', why: `timed out after ${timeoutSeconds} s`, notCarried };
  if (code === 0) return { result: 'pass', why: '', notCarried };
  if (code === 2) return { result: 'waived', why: last.trim().slice(0, 160), notCarried };
  if (NO_DISPLAY.test(output)) {
    return { result: 'waived', why: `needs an X display for OpenGL, which this host lacks (graphics interop: ${ABSENT[2].doc}): ${last.trim().slice(0, 100)}`, notCarried };
  }
  const absent = notCarried.map((c) => [c, absentFeature(c)]).find(([, a]) => a);
  if (absent) {
    const [call, a] = absent;
    return { result: 'waived', why: `needs ${a.feature} (${call}), which gpupool documents as absent (${a.doc})`, notCarried };
  }
  // What the emulator cannot run is no gpupool failure, but it is one here: said apart.
  const noKernel = NO_KERNEL.test(output) ? 'a kernel with no CPU implementation for the emulator (bench/cuda-samples/*.c); ' : '';
  const why = `${notCarried.length ? `not carried: ${notCarried.join(', ')}; ` : ''}${noKernel}${last.trim().slice(0, 160)}`;
  return { result: 'fail', why, notCarried };
}

// A sample's last words may be binary (a crashed one): printable ASCII only.
const cell = (s) => s.replace(/[^\x20-\x7e]/g, '').replace(/\|/g, '\\|');

/** The counts line and the table of rows ({ cat, name, result, why }). */
export function table(rows) {
  const count = (what) => rows.filter((r) => r.result === what).length;
  return [
    `${count('pass')} passed, ${count('fail')} failed, ${count('waived')} waived, ${count('not built')} not built, of ${rows.length}.`,
    '',
    '| sample | result | the call and why |',
    '|---|---|---|',
    ...rows.map((r) => `| ${r.cat}/${r.name} | ${r.result} | ${cell(r.why)} |`),
    '',
  ].join('\n');
}
