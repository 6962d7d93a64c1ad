/** The machine a benchmark ran on, as docs/benchmarks.md names it with every table. */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Whether the daemon's `ws` finds its optional native helper (else it unmasks client frames in JS). */
function wsBufferUtil() {
  try {
    createRequire(join(root, 'node_modules', 'ws', 'lib', 'buffer-util.js')).resolve('bufferutil');
    return !process.env.WS_NO_BUFFER_UTIL;
  } catch {
    return false;
  }
}

export function machine() {
  const info = cpus();
  let virtual = false;
  try {
    virtual = /^flags\s*:.*\bhypervisor\b/m.test(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    // not Linux
  }
  return {
    cpu: info[0]?.model.trim() ?? 'unknown CPU',
    cpus: info.length,
    virtual,
    memGiB: Math.round(totalmem() / 1024 ** 3),
    kernel: release(),
    node: process.version,
    bufferutil: wsBufferUtil(),
    loadBefore: loadavg()[0],
    date: new Date().toISOString(),
  };
}
