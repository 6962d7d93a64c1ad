/**
 * docs/benchmarks.md is written by several benchmarks: each owns a section between
 * `<!-- section:NAME -->` and `<!-- /section:NAME -->` and rewrites only that.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const DOC = join(resolve(dirname(fileURLToPath(import.meta.url)), '..'), 'docs', 'benchmarks.md');

const open = (name) => `<!-- section:${name} -->`;
const close = (name) => `<!-- /section:${name} -->`;

/** `doc` with section `name` replaced by `content` (appended when absent). */
export function replaceSection(doc, name, content) {
  const block = `${open(name)}\n${content.trim()}\n${close(name)}`;
  const start = doc.indexOf(open(name));
  const end = doc.indexOf(close(name));
  if (start >= 0 && end > start) return doc.slice(0, start) + block + doc.slice(end + close(name).length);
  return `${doc.trimEnd()}\n\n${block}\n`;
}

/** Every section of `doc` but `except`, as text to append to a freshly rendered document. */
export function otherSections(doc, except) {
  const out = [];
  const re = /<!-- section:([\w-]+) -->[\s\S]*?<!-- \/section:\1 -->/g;
  for (const m of doc.matchAll(re)) if (m[1] !== except) out.push(m[0]);
  return out.join('\n\n');
}

/** Rewrites section `name` of docs/benchmarks.md. */
export function writeSection(name, content) {
  writeFileSync(DOC, replaceSection(readFileSync(DOC, 'utf8'), name, content));
}

/**
 * A benchmark's `--render FILE`: its section again from a saved run's JSON (`--json`), printed and, with
 * `write`, written with its plot (`plot`, bench/plots.js), without running anything.
 */
export function renderSaved(name, render, file, write, plot) {
  const results = JSON.parse(readFileSync(file, 'utf8'));
  const text = render(results);
  process.stdout.write(`${text}\n`);
  if (write) {
    writeSection(name, text);
    plot?.(results);
  }
}
