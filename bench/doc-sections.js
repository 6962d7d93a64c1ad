/**
 * docs/benchmarks.md is written by several benchmarks: each owns a section between
 * `<!-- section:NAME -->` and `<!-- /section:NAME -->` and rewrites only that.
 */
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
